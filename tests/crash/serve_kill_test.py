#!/usr/bin/env python3
"""kill -9 a real `cairn serve` while clients write to it; check nothing acknowledged is lost.

A collection is created empty over REST. Writer threads, each owning its own
id range, send `wait=true` upserts (new points and overwrites), deletes and
payload updates. At a random moment (the first ones early, while the index
gets its first heads and splits) the server is killed with SIGKILL and
started again on the same data directory. After every restart:

  * every point sampled from those ever written is returned by id with the
    vector and payload of its last acknowledged write, or is absent if its
    last acknowledged operation was a delete; a write that was in flight at
    the kill may have happened or not, and either is accepted;
  * every sampled live point is the top hit of a search with its own vector;
  * points_count lies between the acknowledged count and that count moved by
    the operations in flight;
  * the index statistics are sane (no counter near 2^32: no underflow).

Usage: serve_kill_test.py --binary CAIRN [--kills 20] [--seed S] [--keep DIR]
Exit 0 and a summary line when every check held; 1 with the first failures.
Standard library only.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

DIM = 24
BATCH = 20
COLLECTION = "k9"


class Server:
    def __init__(self, binary, data_dir, log_path):
        self.binary, self.data_dir, self.log_path = binary, data_dir, log_path
        self.proc, self.url = None, None

    def start(self, timeout=120):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "serve", "--data", self.data_dir, "--port", str(port), "--workers", "4"],
                stdout=log, stderr=log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cairn serve exited with {self.proc.returncode} at start; log: {self.log_path}")
            try:
                call(self.url, "GET", "/", timeout=2)
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise RuntimeError("cairn serve did not answer within %d s" % timeout)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, method, path, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw or b"null")
        except ValueError:
            return e.code, raw.decode(errors="replace")


class Model:
    """What the clients know: acknowledged state per id, and writes in flight.

    acked[id] is (vector, payload) for a live point or None for a deleted
    one. pending[id] lists the states a write in flight at the kill may have
    left (its outcome is unknown).
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}
        self.pending = {}
        self.ops = {"upsert": 0, "overwrite": 0, "delete": 0, "payload": 0}
        self.acked_points = 0
        self.self_searches = 0
        self.recall_misses = 0  # missed at the default budget, found reading every posting

    def begin(self, states):
        with self.lock:
            for pid, state in states.items():
                self.pending.setdefault(pid, []).append(state)

    def end(self, states, ok, kind):
        with self.lock:
            for pid, state in states.items():
                self.pending[pid].remove(state)
                if not self.pending[pid]:
                    del self.pending[pid]
                if ok:
                    self.acked[pid] = state
            if ok:
                self.ops[kind] += 1
                self.acked_points += len(states)

    def live_count_bounds(self):
        with self.lock:
            live = sum(1 for s in self.acked.values() if s is not None)
            low = high = live
            for pid, states in self.pending.items():
                was_live = self.acked.get(pid) is not None
                if any(s is not None for s in states) and not was_live:
                    high += 1
                if any(s is None for s in states) and was_live:
                    low -= 1
            return low, high

    def settle(self, server_state):
        """After a restart the in-flight writes are decided: adopt what the server shows."""
        with self.lock:
            for pid in list(self.pending):
                self.acked[pid] = server_state.get(pid, self.acked.get(pid))
            self.pending.clear()


def writer(url_ref, model, first_id, rng, stop, errors):
    next_id = first_id
    mine = []  # ids this writer wrote, live or not
    while not stop.is_set():
        url = url_ref[0]
        r = rng.random()
        with model.lock:
            live = [p for p in mine if model.acked.get(p) is not None and p not in model.pending]
        if r < 0.55 or len(live) < BATCH:
            kind, ids = "upsert", list(range(next_id, next_id + BATCH))
            next_id += BATCH
            mine.extend(ids)
        elif r < 0.7:
            kind, ids = "overwrite", rng.sample(live, BATCH // 2)
        elif r < 0.85:
            kind, ids = "delete", rng.sample(live, BATCH // 4)
        else:
            kind, ids = "payload", rng.sample(live, BATCH // 2)
        if kind in ("upsert", "overwrite"):
            states = {p: ([round(rng.gauss(0, 1), 6) for _ in range(DIM)],
                          {"n": p, "tag": "t%d" % rng.randrange(1000)}) for p in ids}
            body = {"points": [{"id": p, "vector": v, "payload": pl} for p, (v, pl) in states.items()]}
            method, path = "PUT", f"/collections/{COLLECTION}/points?wait=true"
        elif kind == "delete":
            states = {p: None for p in ids}
            body = {"points": ids}
            method, path = "POST", f"/collections/{COLLECTION}/points/delete?wait=true"
        else:
            tag = "u%d" % rng.randrange(1000)
            with model.lock:
                states = {p: (model.acked[p][0], dict(model.acked[p][1], tag=tag)) for p in ids}
            body = {"payload": {"tag": tag}, "points": ids}
            method, path = "POST", f"/collections/{COLLECTION}/points/payload?wait=true"
        model.begin(states)
        ok = False
        try:
            status, answer = call(url, method, path, body, timeout=60)
            ok = status == 200
            if status >= 500 or (status >= 400 and status != 404):
                errors.append(f"{kind}: HTTP {status}: {answer}")
        except (OSError, urllib.error.URLError):
            pass  # the server died: outcome unknown, stays pending
        if ok:
            model.end(states, True, kind)
        elif not stop.is_set():
            # Refused or cut while the server is up: unknown, leave pending
            # until the next restart settles it.
            pass
        if not ok:
            return


def fetch_points(url, ids):
    status, answer = call(url, "POST", f"/collections/{COLLECTION}/points",
                          {"ids": ids, "with_vector": True, "with_payload": True})
    if status != 200:
        raise AssertionError(f"retrieve: HTTP {status}: {answer}")
    return {p["id"]: (p.get("vector"), p.get("payload")) for p in answer["result"]}


def same_vector(a, b):
    return a is not None and b is not None and len(a) == len(b) and \
        all(abs(x - y) <= 1e-4 * max(1.0, abs(y)) for x, y in zip(a, b))


def check(url, model, rng, sample_size):
    """Returns a list of failures; settles the in-flight writes."""
    failures = []
    status, info = call(url, "GET", f"/collections/{COLLECTION}")
    if status != 200:
        return [f"collection info: HTTP {status}: {info}"]
    stats = info["result"].get("cairn", {})
    for key, value in stats.items():
        if isinstance(value, int) and value >= 2 ** 31:
            failures.append(f"stat {key} = {value}: underflow")
    with model.lock:
        every = list(model.acked) + [p for p in model.pending if p not in model.acked]
        pending_ids = list(model.pending)
    # The in-flight ids first: their outcome is decided by what the server shows.
    sample = list(dict.fromkeys(pending_ids + rng.sample(every, min(sample_size, len(every)))))
    got = {}
    for i in range(0, len(sample), 100):
        got.update(fetch_points(url, sample[i:i + 100]))
    low, high = model.live_count_bounds()
    count = info["result"]["points_count"]
    if not low <= count <= high:
        failures.append(f"points_count {count}, acknowledged writes allow [{low}, {high}]")
    for pid in sample:
        with model.lock:
            # A point never acknowledged is absent unless a write in flight made it.
            allowed = [model.acked.get(pid)] + model.pending.get(pid, [])
        have = got.get(pid)
        ok = False
        for state in allowed:
            if state is None and have is None:
                ok = True
            elif state is not None and have is not None and same_vector(have[0], state[0]) \
                    and have[1] == state[1]:
                ok = True
        if not ok:
            failures.append(f"point {pid}: server has {short(have)}, acknowledged {[short(s) for s in allowed]}")
    model.settle({pid: got.get(pid) for pid in pending_ids})
    unfindable = 0
    for pid in sample:
        if got.get(pid) is None:
            continue
        hits, answer = self_search(url, got[pid][0], None)
        if hits and hits[0]["id"] == pid:
            continue
        # The default budget (32 postings) is an approximate search: on
        # uniform 24-d data a point whose posting's head is not among the
        # nearest 32 heads is a recall miss, not a lost point. Reading every
        # posting tells the two apart.
        model.recall_misses += 1
        hits, answer = self_search(url, got[pid][0], MAX_POSTINGS)
        if not hits or hits[0]["id"] != pid:
            unfindable += 1
            if unfindable <= 5:
                failures.append(f"point {pid}: its own vector finds {hits if hits is not None else answer}"
                                " even reading every posting")
    model.self_searches += sum(1 for pid in sample if got.get(pid) is not None)
    if unfindable > 5:
        failures.append(f"... {unfindable} sampled points unfindable in all")
    return failures


MAX_POSTINGS = 4096  # kMaxPostingsPerQuery: more postings than the test makes heads


def self_search(url, vector, max_postings):
    body = {"vector": vector, "limit": 1}
    if max_postings:
        body["params"] = {"cairn": {"max_postings": max_postings}}
    status, answer = call(url, "POST", f"/collections/{COLLECTION}/points/search", body)
    return (answer.get("result") if status == 200 else None), answer


def short(state):
    if state is None:
        return "nothing"
    return f"(vector[0]={state[0][0] if state[0] else None}, payload={state[1]})"


def check_one_owner(binary, data_dir, scratch):
    """A second server on the data directory, and a build into a served
    collection's index, refuse at start; returns the failures."""
    failures = []
    second = subprocess.run([binary, "serve", "--data", data_dir, "--port", str(free_port())],
                            capture_output=True, text=True, timeout=60)
    if second.returncode == 0 or "in use" not in second.stderr:
        failures.append(f"second serve: exit {second.returncode}, stderr {second.stderr[-300:]!r}")
    vectors = os.path.join(scratch, "tiny.fbin")
    with open(vectors, "wb") as f:
        f.write(struct.pack("<ii", 64, DIM))
        f.write(struct.pack(f"<{64 * DIM}f", *[random.random() for _ in range(64 * DIM)]))
    index_dir = os.path.join(data_dir, "collections", COLLECTION, "index")
    build = subprocess.run([binary, "build", "--input", vectors, "--out", index_dir, "--quiet"],
                           capture_output=True, text=True, timeout=60)
    if build.returncode == 0 or "in use" not in build.stderr:
        failures.append(f"build into served index: exit {build.returncode}, stderr {build.stderr[-300:]!r}")
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--writers", type=int, default=3)
    ap.add_argument("--sample", type=int, default=60)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--keep", help="use this data directory and keep it")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    data_dir = args.keep or tempfile.mkdtemp(prefix="cairn_kill_")
    log_path = os.path.join(data_dir + ".log") if args.keep else os.path.join(data_dir, "serve.log")
    os.makedirs(data_dir, exist_ok=True)
    server = Server(args.binary, os.path.join(data_dir, "data"), log_path)
    model = Model()
    failures, errors = [], []
    print(f"serve_kill_test: seed {args.seed}, {args.kills} kills, data {data_dir}", flush=True)
    try:
        server.start()
        status, answer = call(server.url, "PUT", f"/collections/{COLLECTION}",
                              {"vectors": {"size": DIM, "distance": "Euclid"}})
        if status != 200:
            raise AssertionError(f"create: HTTP {status}: {answer}")
        failures += check_one_owner(args.binary, server.data_dir, data_dir)
        url_ref = [server.url]
        for kill in range(args.kills):
            stop = threading.Event()
            threads = [threading.Thread(target=writer, args=(url_ref, model, (kill * 64 + w + 1) * 10 ** 7,
                                                             random.Random(rng.random()), stop, errors))
                       for w in range(args.writers)]
            for t in threads:
                t.start()
            # Early kills land in the first flushes and splits, later ones anywhere.
            time.sleep(rng.uniform(0.05, 0.4) if kill < 4 else rng.uniform(0.1, 2.0))
            server.kill9()
            stop.set()
            for t in threads:
                t.join()
            server.start()
            url_ref[0] = server.url
            found = check(server.url, model, rng, args.sample)
            if found:
                failures += [f"after kill {kill + 1}: {f}" for f in found]
                break
        server.stop()
    finally:
        if server.proc and server.proc.poll() is None:
            server.proc.kill()
    live = sum(1 for s in model.acked.values() if s is not None)
    print(f"serve_kill_test: {args.kills if not failures else kill + 1} kills, "
          f"acknowledged operations {dict(model.ops)} ({model.acked_points} point writes), "
          f"{live} live points, self-searches {model.self_searches} "
          f"(default-budget misses {model.recall_misses}), failures {len(failures)}, "
          f"HTTP errors {len(errors)}")
    for f in (failures + errors)[:20]:
        print("  " + f)
    if not failures and not errors and not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    elif not args.keep:
        print(f"  data and log kept in {data_dir}")
    return 1 if failures or errors else 0


if __name__ == "__main__":
    sys.exit(main())
