"""The Python client against a real `cairn serve` on a loopback port.

Run by ctest (python_client_test) as
  CAIRN_BINARY=build/cairn python3 -m unittest discover -s client/python/tests
Standard library only. Retries and timeouts are checked against small
misbehaving HTTP servers in this process (a real server does not answer 503
or hang on demand).
"""
import array
import http.server
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from cairn_client import (ApiError, Batch, CairnClient, PointStruct,  # noqa: E402
                          TransportError, VectorParams)

try:
    import numpy
except ImportError:
    numpy = None


class Server:
    """`cairn serve --port 0` in a temporary directory; the port comes from
    its {"event":"listening"} line on stderr."""

    def __init__(self, extra=()):
        binary = os.environ.get("CAIRN_BINARY")
        if not binary:
            raise RuntimeError("set CAIRN_BINARY to the cairn binary")
        self.root = tempfile.mkdtemp(prefix="cairn-pyclient-")
        self.log_path = os.path.join(self.root, "serve.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", "--data", os.path.join(self.root, "data"), "--port", "0",
             "--workers", "2", *extra], stdout=self.log, stderr=self.log)
        self.url = None
        deadline = time.time() + 60
        while self.url is None:
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(f"cairn serve did not start; log: {self.log_path}")
            with open(self.log_path, "rb") as f:
                for line in f:
                    try:
                        event = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(event, dict) and event.get("event") == "listening":
                        self.url = f"http://127.0.0.1:{event['port']}"
            time.sleep(0.02)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)


def vec(i, dim=8):
    # A Gaussian vector seeded by the id: distinct for every id.
    rng = random.Random(i)
    return [rng.gauss(0, 1) for _ in range(dim)]


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.client = CairnClient(cls.server.url, timeout=30)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.stop()

    def fresh(self, name, dim=8, distance="Euclid", **kwargs):
        if self.client.collection_exists(name):
            self.client.delete_collection(name)
        self.assertTrue(self.client.create_collection(name, VectorParams(dim, distance), **kwargs))

    def test_collections_lifecycle(self):
        self.fresh("life", dim=4, distance="Cosine", max_postings=16, target_recall=0.9)
        self.assertTrue(self.client.collection_exists("life"))
        self.assertIn("life", [c.name for c in self.client.get_collections().collections])
        info = self.client.get_collection("life")
        self.assertEqual(info.vectors, {"size": 4, "distance": "Cosine"})
        self.assertEqual(info.points_count, 0)
        self.assertEqual(info.cairn["max_postings"], 16)
        self.assertAlmostEqual(info.cairn["target_recall"], 0.9)
        with self.assertRaises(ApiError) as e:
            self.client.create_collection("life", VectorParams(4, "Cosine"))
        self.assertEqual(e.exception.status_code, 409)
        self.assertIn("already exists", e.exception.message)
        self.assertTrue(self.client.update_collection("life", max_postings=8))
        self.assertEqual(self.client.get_collection("life").cairn["max_postings"], 8)
        self.assertTrue(self.client.delete_collection("life"))
        self.assertFalse(self.client.delete_collection("life"))
        self.assertFalse(self.client.collection_exists("life"))
        with self.assertRaises(ApiError) as e:
            self.client.get_collection("life")
        self.assertEqual(e.exception.status_code, 404)
        self.assertIn("doesn't exist", e.exception.message)
        with self.assertRaises(ValueError):
            VectorParams(4, "cosine").to_json()

    def test_bad_input_is_an_api_error_with_the_servers_message(self):
        self.fresh("bad", dim=3)
        with self.assertRaises(ApiError) as e:
            self.client.upsert("bad", [PointStruct(1, [1.0, 2.0])])
        self.assertEqual(e.exception.status_code, 400)
        self.assertTrue(e.exception.message.startswith("Wrong input"), e.exception.message)
        with self.assertRaises(ApiError) as e:
            self.client.query_points("bad", [1.0, 2.0, 3.0], target_recall=1.5)
        self.assertEqual(e.exception.status_code, 400)
        self.assertIn("target_recall", e.exception.message)

    def test_upsert_in_batches_retrieve_scroll_count(self):
        self.fresh("pts")
        points = [PointStruct(i, vec(i), {"i": i, "even": i % 2 == 0}) for i in range(1, 1001)]
        self.client.upsert("pts", points, batch_size=128)
        self.assertEqual(self.client.count("pts").count, 1000)
        self.assertEqual(self.client.count("pts", {"must": [
            {"key": "even", "match": {"value": True}}]}).count, 500)
        got = self.client.retrieve("pts", [5, 999, 4242], with_vectors=True)
        self.assertEqual([r.id for r in got], [5, 999])
        self.assertEqual(got[0].payload, {"i": 5, "even": False})
        self.assertEqual(len(got[0].vector), 8)
        for a, b in zip(got[0].vector, vec(5)):
            self.assertAlmostEqual(a, b, places=4)
        page, nxt = self.client.scroll("pts", limit=10)
        self.assertEqual([r.id for r in page], list(range(1, 11)))
        self.assertEqual(nxt, 11)
        page, nxt = self.client.scroll("pts", limit=10, offset=995, with_payload=False)
        self.assertEqual([r.id for r in page], list(range(995, 1001)))
        self.assertIsNone(nxt)
        self.assertIsNone(page[0].payload)
        ids = [r.id for r in self.client.scroll_all("pts", page_size=97)]
        self.assertEqual(ids, list(range(1, 1001)))
        odd = [r.id for r in self.client.scroll_all(
            "pts", {"must_not": [{"key": "even", "match": {"value": True}}]}, page_size=50)]
        self.assertEqual(odd, list(range(1, 1001, 2)))

    def test_upload_points_and_collection(self):
        self.fresh("up", dim=4)
        self.client.upload_points("up", (PointStruct(i, vec(i, 4)) for i in range(130)),
                                  batch_size=50)
        self.assertEqual(self.client.count("up").count, 130)
        self.client.upload_collection("up", [vec(i, 4) for i in range(5)],
                                      payload=[{"n": i} for i in range(5)],
                                      ids=["a", "b", "c", "d", "e"], batch_size=2)
        self.assertEqual(self.client.count("up").count, 135)
        self.assertEqual(self.client.retrieve("up", ["c"])[0].payload, {"n": 2})
        self.client.upload_collection("up", [vec(i, 4) for i in range(3)])
        self.assertEqual(self.client.retrieve("up", [2], with_vectors=True)[0].id, 2)
        self.assertEqual(self.client.count("up").count, 135)  # ids 0..2 overwritten

    def test_query_and_search(self):
        self.fresh("q", dim=8)
        self.client.upsert("q", [PointStruct(i, vec(i), {"group": i % 3}) for i in range(300)])
        hits = self.client.query_points("q", vec(42), limit=5, exact=True).points
        self.assertEqual(hits[0].id, 42)
        self.assertEqual(len(hits), 5)
        self.assertEqual(hits[0].payload, {"group": 0})
        self.assertLessEqual(hits[0].score, hits[1].score)  # Euclid: lowest first
        only = {"must": [{"key": "group", "match": {"value": 1}}]}
        hits = self.client.query_points("q", vec(42), query_filter=only, limit=7,
                                        with_payload=False).points
        self.assertEqual(len(hits), 7)
        self.assertTrue(all(h.id % 3 == 1 for h in hits))
        self.assertIsNone(hits[0].payload)
        by_id = self.client.query_points("q", 42, limit=3).points
        self.assertNotIn(42, [h.id for h in by_id])
        self.assertEqual(len(by_id), 3)
        hits = self.client.query_points("q", vec(7), limit=1, target_recall=0.95,
                                        with_vectors=True).points
        self.assertEqual(hits[0].id, 7)
        self.assertEqual(len(hits[0].vector), 8)
        listed = self.client.query_points("q", None, query_filter=only, limit=4).points
        self.assertEqual([h.id for h in listed], [1, 4, 7, 10])
        found = self.client.search("q", vec(100), limit=3, search_params={"exact": True})
        self.assertEqual(found[0].id, 100)

    def test_named_vector(self):
        if self.client.collection_exists("named"):
            self.client.delete_collection("named")
        self.client.create_collection("named", {"text": VectorParams(8, "Dot")})
        self.client.upsert("named", [PointStruct(i, {"text": vec(i)}) for i in range(50)])
        hits = self.client.query_points("named", vec(9), using="text", limit=1, exact=True).points
        self.assertEqual(hits[0].id, max(range(50), key=lambda i: sum(
            a * b for a, b in zip(vec(i), vec(9)))))
        same = self.client.search("named", ("text", vec(9)), limit=1, exact=True)
        self.assertEqual(same[0].id, hits[0].id)
        with self.assertRaises(ApiError) as e:
            self.client.query_points("named", vec(9), using="image")
        self.assertEqual(e.exception.status_code, 400)

    def test_delete_and_payload_updates(self):
        self.fresh("edit")
        self.client.upsert("edit", [PointStruct(i, vec(i), {"a": i, "b": {"c": 1}})
                                    for i in range(20)])
        self.client.delete("edit", [0, 1, 2])
        self.assertEqual(self.client.count("edit").count, 17)
        self.client.delete("edit", {"must": [{"key": "a", "range": {"gte": 15}}]})
        self.assertEqual(self.client.count("edit").count, 12)
        self.client.set_payload("edit", {"tag": "x"}, [3, 4])
        self.client.set_payload("edit", {"d": 2}, [3], key="b")
        self.assertEqual(self.client.retrieve("edit", [3])[0].payload,
                         {"a": 3, "b": {"c": 1, "d": 2}, "tag": "x"})
        self.client.overwrite_payload("edit", {"only": True}, [4])
        self.assertEqual(self.client.retrieve("edit", [4])[0].payload, {"only": True})
        self.client.delete_payload("edit", ["tag", "b.c"], [3])
        self.assertEqual(self.client.retrieve("edit", [3])[0].payload, {"a": 3, "b": {"d": 2}})
        self.client.clear_payload("edit", {"must": [{"has_id": [5, 6]}]})
        self.assertEqual([r.payload for r in self.client.retrieve("edit", [5, 6])], [{}, {}])
        with self.assertRaises(TypeError):
            self.client.delete("edit", 7)

    def test_array_vectors(self):
        self.fresh("arr", dim=4)
        self.client.upsert("arr", [PointStruct("a", array.array("f", [1, 2, 3, 4]))])
        self.client.upsert("arr", Batch(ids=[1, 2], vectors=[array.array("d", [0, 0, 0, 1]),
                                                             (1.0, 0.0, 0.0, 0.0)],
                                        payloads=[{"k": 1}, None]))
        if numpy is not None:
            self.client.upsert("arr", Batch(ids=[3, 4], vectors=numpy.eye(4, dtype="float32")[:2]))
            hits = self.client.query_points("arr", numpy.array([1, 0, 0, 0], dtype="float32"),
                                            limit=1, exact=True).points
            self.assertIn(hits[0].id, (2, 3))
        self.assertEqual(self.client.count("arr").count, 5 if numpy is not None else 3)
        hits = self.client.query_points("arr", array.array("f", [1, 2, 3, 4]), limit=1).points
        self.assertEqual(hits[0].id, "a")
        with self.assertRaises(ValueError):
            self.client.upsert("arr", Batch(ids=[1], vectors=[[1, 2, 3, 4], [1, 2, 3, 4]]))

    def test_points_without_vector(self):
        self.fresh("novec", dim=4)
        self.client.upsert("novec", [PointStruct(1, None, {"text": "only payload"})])
        self.assertEqual(self.client.count("novec").count, 1)
        self.assertEqual(self.client.retrieve("novec", [1], with_vectors=True)[0].vector, {})


class ApiKeyTest(unittest.TestCase):
    def test_key_header(self):
        server = Server(["--api-key", "s3cret"])
        try:
            with self.assertRaises(ApiError) as e:
                with CairnClient(server.url, api_key="") as c:
                    c.get_collections()
            self.assertEqual(e.exception.status_code, 401)
            with self.assertRaises(ApiError) as e:
                with CairnClient(server.url, api_key="wrong") as c:
                    c.get_collections()
            self.assertEqual(e.exception.status_code, 401)
            with CairnClient(server.url, api_key="s3cret") as client:
                self.assertEqual(client.get_collections().collections, [])
            old = os.environ.get("CAIRN_API_KEY"), os.environ.get("CAIRN_URL")
            os.environ["CAIRN_API_KEY"], os.environ["CAIRN_URL"] = "s3cret", server.url
            try:
                with CairnClient() as client:
                    self.assertEqual(client.get_collections().collections, [])
            finally:
                for k, v in zip(("CAIRN_API_KEY", "CAIRN_URL"), old):
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
        finally:
            server.stop()


class Flaky(http.server.BaseHTTPRequestHandler):
    """Answers per the script of its server: 'reset' closes without a word,
    '503' answers 503, 'ok' answers a Qdrant envelope."""
    protocol_version = "HTTP/1.1"

    def handle_one_request(self):
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline:
            self.close_connection = True
            return
        if not self.parse_request():
            return
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        server = self.server
        with server.lock:
            server.requests.append((self.command, self.path))
            step = server.script.pop(0) if server.script else "ok"
        if step == "reset":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, body = (503, {"status": {"error": "Service internal error: busy"}, "time": 0}) \
            if step == "503" else (200, {"result": {"collections": []}, "status": "ok", "time": 0})
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if step == "ok-then-close":  # as an idle timeout would, unannounced
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, *args):
        pass


class RetryTest(unittest.TestCase):
    def serve(self, script):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
        server.daemon_threads = True
        server.lock = threading.Lock()
        server.requests = []
        server.script = list(script)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return server, f"http://127.0.0.1:{server.server_address[1]}"

    def client(self, url, **kwargs):
        client = CairnClient(url, **kwargs)
        self.addCleanup(client.close)
        return client

    def test_idempotent_calls_retry_503_and_resets(self):
        server, url = self.serve(["503", "reset", "503"])
        client = self.client(url, retries=3, backoff=0.01)
        self.assertEqual(client.get_collections().collections, [])
        self.assertEqual(len(server.requests), 4)
        self.assertEqual(client.transport.retried, 3)

    def test_retries_run_out(self):
        server, url = self.serve(["503"] * 10)
        client = self.client(url, retries=2, backoff=0.01)
        with self.assertRaises(ApiError) as e:
            client.count("c")
        self.assertEqual(e.exception.status_code, 503)
        self.assertEqual(e.exception.message, "Service internal error: busy")
        self.assertEqual(len(server.requests), 3)

    def test_non_idempotent_calls_are_sent_once(self):
        server, url = self.serve(["503", "503"])
        client = self.client(url, retries=3, backoff=0.01)
        with self.assertRaises(ApiError) as e:
            client.create_collection("c", VectorParams(4))
        self.assertEqual(e.exception.status_code, 503)
        self.assertEqual(server.requests, [("PUT", "/collections/c")])
        server.script = ["reset"]
        with self.assertRaises(TransportError):
            client.delete_collection("c")
        self.assertEqual(len(server.requests), 2)

    def test_a_connection_closed_while_idle_is_replaced_before_sending(self):
        server, url = self.serve(["ok-then-close", "ok"])
        client = self.client(url, retries=0)
        client.get_collections()
        time.sleep(0.1)  # the server's close arrives while the connection is idle
        client.delete_collection("c")  # not retried: it must go out on a new connection
        self.assertEqual(len(server.requests), 2)
        self.assertEqual(client.transport.connects, 2)
        self.assertEqual(client.transport.retried, 0)

    def test_timeout(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)  # accepts (the kernel does) and never answers
        self.addCleanup(listener.close)
        client = self.client(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.3,
                             retries=3)
        start = time.monotonic()
        with self.assertRaises(TransportError) as e:
            client.count("c")
        self.assertTrue(e.exception.timed_out)
        self.assertLess(time.monotonic() - start, 2.0)  # a timeout is not retried

    def test_refused(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        client = self.client(f"http://127.0.0.1:{port}", retries=1, backoff=0.01)
        with self.assertRaises(TransportError) as e:
            client.get_collections()
        self.assertFalse(e.exception.timed_out)
        with self.assertRaises(ValueError):
            CairnClient("https://127.0.0.1:1")
        with self.assertRaises(ValueError):
            CairnClient("http://127.0.0.1:6333/prefix")


class PipInstallTest(unittest.TestCase):
    def test_pip_install_offline_in_a_venv(self):
        """`pip install ./client/python` with no index at all, in a fresh venv."""
        root = tempfile.mkdtemp(prefix="cairn-pyclient-venv-")
        self.addCleanup(shutil.rmtree, root, True)
        venv = os.path.join(root, "venv")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        py = os.path.join(venv, "bin", "python")
        env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1",
                   PIP_DISABLE_PIP_VERSION_CHECK="1")
        env.pop("PIP_FIND_LINKS", None)
        out = subprocess.run([py, "-m", "pip", "install", os.path.dirname(HERE)], env=env,
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        server = Server()
        try:
            code = ("import cairn_client, sys; c = cairn_client.CairnClient(sys.argv[1]);"
                    "c.create_collection('v', cairn_client.VectorParams(2, 'Dot'));"
                    "print(cairn_client.__file__, c.collection_exists('v'))")
            out = subprocess.run([py, "-c", code, server.url], capture_output=True, text=True,
                                 cwd=root)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn(os.path.join(venv, "lib"), out.stdout)
            self.assertTrue(out.stdout.strip().endswith("True"), out.stdout)
        finally:
            server.stop()


if __name__ == "__main__":
    unittest.main()
