#!/usr/bin/env python3
"""kill -9 a real `cairn serve` while a client writes sparse vectors; nothing acknowledged is lost.

A collection with a named dense vector ("text-dense") and a sparse vector
with the idf modifier ("text-sparse") is created. One writer sends
`wait=true` writes in a loop: upserts of new points and overwrites (dense
and sparse, or sparse only), update_vectors of the sparse vector alone,
vectors/delete of the sparse vector, and point deletes. Point i's sparse
vector always holds its own marker dimension 1_000_000 + i (so a sparse
query on that dimension finds exactly that point) and a few shared ones.
The server is killed with SIGKILL at random moments and started again on
the same directory (the sparse index is rebuilt from the point store).
After every restart, for every point:

  * GET by id returns the sparse vector (and the dense vector's presence) of
    its last acknowledged write, or one a write in flight may have left;
  * a sparse query on its marker dimension returns exactly it when it has a
    sparse vector, and nothing when it has none (deleted, or its sparse
    vector removed);
  * a hybrid query (prefetch dense + sparse, rrf) answers 200.

Usage: sparse_kill_test.py --binary CAIRN [--kills 5] [--seed S]
Standard library only. Exit 0 and a summary line when every check held.
"""
import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_kill_test import Server, call  # noqa: E402  (same directory)

DIM = 8
COLLECTION = "sparse_kill"
MARKER = 1_000_000


def sparse_for(pid, version):
    rng = random.Random(pid * 1009 + version)
    shared = sorted(rng.sample(range(50), 3))
    return {"indices": shared + [MARKER + pid],
            "values": [round(rng.uniform(0.1, 2.0), 3) for _ in shared] + [1.0 + version % 7]}


def dense_for(pid, version):
    rng = random.Random(pid * 7 + version * 13 + 1)
    return [rng.gauss(0, 1) for _ in range(DIM)]


class Model:
    """acked[id]: (has_dense, sparse or None) or None when deleted; pending: in flight."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}
        self.pending = {}
        self.writes = 0


def one_write(url, model, rng, next_id, version):
    ids = list(model.acked)
    kind = rng.choice(["new", "new", "overwrite", "sparse_update", "sparse_delete", "delete"])
    if kind != "new" and not ids:
        kind = "new"
    pid = next_id if kind == "new" else rng.choice(ids)
    old = model.acked.get(pid)
    if kind in ("new", "overwrite"):
        with_dense = rng.random() < 0.7
        vector = {"text-sparse": sparse_for(pid, version)}
        if with_dense:
            vector["text-dense"] = dense_for(pid, version)
        req = ("PUT", "points", {"points": [{"id": pid, "vector": vector}]})
        new = (with_dense, sparse_for(pid, version))
    elif kind == "sparse_update":
        if old is None:
            return False
        req = ("PUT", "points/vectors",
               {"points": [{"id": pid, "vector": {"text-sparse": sparse_for(pid, version)}}]})
        new = (old[0], sparse_for(pid, version))
    elif kind == "sparse_delete":
        if old is None:
            return False
        req = ("POST", "points/vectors/delete", {"points": [pid], "vector": ["text-sparse"]})
        new = (old[0], None)
    else:
        req = ("POST", "points/delete", {"points": [pid]})
        new = None
    with model.lock:
        model.pending[pid] = [old, new]
    try:
        status, body = call(url, req[0], f"/collections/{COLLECTION}/{req[1]}?wait=true", req[2])
    except OSError:
        return None  # the kill: outcome unknown, stays pending
    if status != 200:
        raise RuntimeError(f"{req}: HTTP {status}: {body}")
    with model.lock:
        model.acked[pid] = new
        del model.pending[pid]
        model.writes += 1
    return kind == "new"


def writer(server, model, rng, stop, start_id):
    next_id, version = start_id, 0
    while not stop.is_set():
        version += 1
        try:
            made = one_write(server.url, model, rng, next_id, version)
        except RuntimeError as e:
            print(f"sparse_kill_test: writer: {e}", file=sys.stderr)
            return
        if made is None:
            return
        if made:
            next_id += 1


def matches(got, state):
    if state is None:
        return got is None
    has_dense, sparse = state
    if got is None:
        return False
    vec = got.get("vector") or {}
    if ("text-dense" in vec) != has_dense:
        return False
    if sparse is None:
        return "text-sparse" not in vec
    s = vec.get("text-sparse")
    return s is not None and s["indices"] == sparse["indices"] and all(
        abs(a - b) < 1e-5 for a, b in zip(s["values"], sparse["values"]))


def check(url, model):
    failures = []
    for pid, state in sorted(model.acked.items()):
        allowed = [state] + model.pending.get(pid, [])
        status, body = call(url, "POST", f"/collections/{COLLECTION}/points",
                            {"ids": [pid], "with_vector": True})
        got = body["result"][0] if status == 200 and body["result"] else None
        if not any(matches(got, s) for s in allowed):
            failures.append(f"point {pid}: got {got}, allowed {allowed}")
            continue
        status, body = call(url, "POST", f"/collections/{COLLECTION}/points/query",
                            {"query": {"indices": [MARKER + pid], "values": [1.0]},
                             "using": "text-sparse", "limit": 3})
        hits = [h["id"] for h in body["result"]["points"]] if status == 200 else None
        has_sparse = got is not None and "text-sparse" in (got.get("vector") or {})
        if hits != ([pid] if has_sparse else []):
            failures.append(f"point {pid}: marker query found {hits}, has sparse: {has_sparse}")
    for pid in model.pending:
        if pid not in model.acked:  # a new point in flight: absent or whole
            status, body = call(url, "POST", f"/collections/{COLLECTION}/points",
                                {"ids": [pid], "with_vector": True})
            got = body["result"][0] if body["result"] else None
            if not any(matches(got, s) for s in model.pending[pid]):
                failures.append(f"in-flight point {pid}: got {got}")
    status, body = call(url, "POST", f"/collections/{COLLECTION}/points/query", {
        "prefetch": [{"query": dense_for(1, 1), "using": "text-dense", "limit": 10},
                     {"query": sparse_for(1, 1), "using": "text-sparse", "limit": 10}],
        "query": {"fusion": "rrf"}, "limit": 5})
    if status != 200:
        failures.append(f"hybrid query: HTTP {status}: {body}")
    return failures


def settle(model, url):
    """Resolves writes in flight at the kill from what the server now holds."""
    for pid, states in list(model.pending.items()):
        status, body = call(url, "POST", f"/collections/{COLLECTION}/points",
                            {"ids": [pid], "with_vector": True})
        got = body["result"][0] if body["result"] else None
        for s in states:
            if matches(got, s):
                if s is None and pid not in model.acked:
                    break
                model.acked[pid] = s
                break
    model.pending.clear()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = tempfile.mkdtemp(prefix="cairn-sparsekill-")
    server = Server(os.path.abspath(args.binary), os.path.join(root, "data"),
                    os.path.join(root, "serve.log"))
    model = Model()
    failures = []
    try:
        server.start()
        status, body = call(server.url, "PUT", f"/collections/{COLLECTION}", {
            "vectors": {"text-dense": {"size": DIM, "distance": "Cosine"}},
            "sparse_vectors": {"text-sparse": {"modifier": "idf"}}})
        if status != 200:
            raise RuntimeError(f"create: {status} {body}")
        next_start = 0
        for kill in range(args.kills):
            stop = threading.Event()
            t = threading.Thread(target=writer,
                                 args=(server, model, random.Random(rng.random()), stop,
                                       next_start))
            t.start()
            time.sleep(rng.uniform(0.2, 1.5))
            server.kill9()
            stop.set()
            t.join(timeout=60)
            next_start += 100000
            server.start()
            failures = check(server.url, model)
            if failures:
                break
            settle(model, server.url)
        server.stop()
    finally:
        server.stop()
    if failures:
        print(f"sparse_kill_test: FAILED (seed {args.seed}, log {root}/serve.log):",
              file=sys.stderr)
        for f in failures[:20]:
            print("  " + f, file=sys.stderr)
        return 1
    shutil.rmtree(root, ignore_errors=True)
    live = sum(1 for s in model.acked.values() if s is not None)
    print(f"sparse_kill_test: {args.kills} kills, {model.writes} acknowledged writes, "
          f"{live} live points checked after each restart (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
