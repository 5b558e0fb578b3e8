#!/usr/bin/env python3
"""Fill a real small file system under a real `cairn serve`; a full disk must be a clean error.

A tmpfs of a few MiB is mounted for the test (root only: without the right to
mount, the test prints SKIP and exits 77, which ctest reports as skipped) with
a filler file in it, and `cairn serve --data` runs on it. A collection is
created and `wait=true` upserts of fresh ids are sent until one is answered
507. Then, and after each of the steps below:

  * every point whose upsert was answered 200 is returned by id with its
    vector and payload, and is the top hit of a search with its own vector;
  * a point whose upsert was refused is absent, or present whole (readable
    and found by its own vector), never half;
  * searches answer 200 while the disk is full, and a refused write's answer
    is a Qdrant error body ({"status": {"error": ...}, "time": ...}).

Steps: deleting the filler frees space and upserts succeed again; the disk is
filled again (507 again); the file system is remounted larger and upserts
succeed; the server is killed with SIGKILL and started again on the same
directory, and everything is checked once more. The tmpfs is unmounted on
every exit path.

Usage: disk_full_test.py --binary CAIRN [--size-mib 4] [--keep-log]
Standard library only.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_kill_test import Server, call  # noqa: E402  (same directory)

SKIP = 77
DIM = 64
BATCH = 40
COLLECTION = "full"
FILLER_BYTES = 768 * 1024


class Disk:
    def __init__(self):
        self.points = {}     # id -> (vector, payload), answered 200
        self.refused = {}    # id -> (vector, payload), answered 507
        self.next_id = 1
        self.rng = random.Random(7)

    def batch(self):
        out = {}
        for _ in range(BATCH):
            pid = self.next_id
            self.next_id += 1
            vec = [round(self.rng.gauss(0, 1), 5) for _ in range(DIM)]
            out[pid] = (vec, {"i": pid, "pad": "p" * 160})
        return out

    def upsert(self, url):
        """Sends one batch; returns its HTTP status."""
        states = self.batch()
        body = {"points": [{"id": p, "vector": v, "payload": pl} for p, (v, pl) in states.items()]}
        status, answer = call(url, "PUT", f"/collections/{COLLECTION}/points?wait=true", body)
        if status == 200:
            self.points.update(states)
        elif status == 507:
            check_error_body(answer)
            self.refused.update(states)
        else:
            raise AssertionError(f"upsert: HTTP {status}: {answer}")
        return status


def check_error_body(answer):
    if not (isinstance(answer, dict) and isinstance(answer.get("status"), dict)
            and isinstance(answer["status"].get("error"), str) and "time" in answer):
        raise AssertionError(f"507 without a Qdrant error body: {answer}")
    if "Insufficient storage" not in answer["status"]["error"]:
        raise AssertionError(f"507 message: {answer['status']['error']}")


def same_vector(a, b):
    return a is not None and len(a) == len(b) and all(abs(x - y) <= 1e-4 for x, y in zip(a, b))


def fetch(url, ids):
    got = {}
    for i in range(0, len(ids), 200):
        status, answer = call(url, "POST", f"/collections/{COLLECTION}/points",
                              {"ids": ids[i:i + 200], "with_vector": True, "with_payload": True})
        if status != 200:
            raise AssertionError(f"retrieve: HTTP {status}: {answer}")
        got.update({p["id"]: (p.get("vector"), p.get("payload")) for p in answer["result"]})
    return got


def self_found(url, pid, vec):
    status, answer = call(url, "POST", f"/collections/{COLLECTION}/points/search",
                          {"vector": vec, "limit": 1})
    if status != 200:
        raise AssertionError(f"search while checking {pid}: HTTP {status}: {answer}")
    return bool(answer["result"]) and answer["result"][0]["id"] == pid


def check(url, disk, when, sample=300):
    failures = []
    acked = sorted(disk.points)
    got = fetch(url, acked)
    for pid in acked:
        have = got.get(pid)
        vec, payload = disk.points[pid]
        if have is None or not same_vector(have[0], vec) or have[1] != payload:
            failures.append(f"{when}: acknowledged point {pid} is {'missing' if have is None else 'changed'}")
    for pid in random.Random(len(acked)).sample(acked, min(sample, len(acked))):
        if not self_found(url, pid, disk.points[pid][0]):
            failures.append(f"{when}: acknowledged point {pid} is not found by its own vector")
    refused = sorted(disk.refused)
    got = fetch(url, refused)
    half = 0
    for pid in refused:
        have = got.get(pid)
        vec, payload = disk.refused[pid]
        if have is None:
            if self_found(url, pid, vec):
                half += 1
                failures.append(f"{when}: refused point {pid} is found by search but not readable")
        elif not (same_vector(have[0], vec) and have[1] == payload and self_found(url, pid, vec)):
            half += 1
            failures.append(f"{when}: refused point {pid} is present but not whole")
    status, info = call(url, "GET", f"/collections/{COLLECTION}")
    if status != 200:
        failures.append(f"{when}: collection info: HTTP {status}: {info}")
    print(f"disk_full_test: {when}: {len(acked)} acknowledged points checked, "
          f"{len(refused)} refused ({len(refused) - len(got)} absent), {len(failures)} failures",
          flush=True)
    return failures


def fill(server, disk, limit=2000):
    """Upserts until a 507; searches meanwhile. Returns the number of 200s."""
    ok = 0
    for _ in range(limit):
        if disk.upsert(server.url) == 507:
            # The server keeps serving: a search, and the refusal of the next write.
            vec = disk.points[max(disk.points)][0] if disk.points else [0.5] * DIM
            status, answer = call(server.url, "POST", f"/collections/{COLLECTION}/points/search",
                                  {"vector": vec, "limit": 3})
            if status != 200:
                raise AssertionError(f"search on a full disk: HTTP {status}: {answer}")
            return ok
        ok += 1
    raise AssertionError(f"no 507 after {limit} batches: is the file system really small?")


def succeed_again(server, disk, batches=3):
    for _ in range(batches):
        if disk.upsert(server.url) != 200:
            raise AssertionError("upsert refused after space was freed")


def mount_tmpfs(path, size_mib):
    if os.geteuid() != 0:
        return "not root"
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", path],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else (r.stderr.strip() or f"mount exit {r.returncode}")


def run(args, mnt, log_path):
    data = os.path.join(mnt, "data")
    with open(os.path.join(mnt, "filler"), "wb") as f:
        f.write(b"\xa5" * FILLER_BYTES)
    server = Server(args.binary, data, log_path)
    failures = []
    try:
        server.start()
        status, answer = call(server.url, "PUT", f"/collections/{COLLECTION}",
                              {"vectors": {"size": DIM, "distance": "Euclid"}})
        if status != 200:
            raise AssertionError(f"create: HTTP {status}: {answer}")
        disk = Disk()
        n = fill(server, disk)
        print(f"disk_full_test: first 507 after {n} batches", flush=True)
        failures += check(server.url, disk, "disk full")
        os.remove(os.path.join(mnt, "filler"))
        succeed_again(server, disk)
        failures += check(server.url, disk, "filler deleted")
        n = fill(server, disk)
        print(f"disk_full_test: second 507 after {n} more batches", flush=True)
        failures += check(server.url, disk, "disk full again")
        subprocess.run(["mount", "-o", f"remount,size={4 * args.size_mib}m", mnt], check=True)
        succeed_again(server, disk)
        failures += check(server.url, disk, "remounted larger")
        server.kill9()
        server.start()
        failures += check(server.url, disk, "after kill -9 and restart")
        succeed_again(server, disk)
        failures += check(server.url, disk, "writes after restart")
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill9()
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--size-mib", type=int, default=4)
    args = ap.parse_args()
    mnt = tempfile.mkdtemp(prefix="cairn-diskfull-")
    log_path = os.path.join(tempfile.gettempdir(), os.path.basename(mnt) + ".log")
    why = mount_tmpfs(mnt, args.size_mib)
    if why is not None:
        os.rmdir(mnt)
        print(f"SKIP: disk_full_test needs to mount a {args.size_mib} MiB tmpfs ({why})")
        return SKIP
    failures = []
    try:
        failures = run(args, mnt, log_path)
    except AssertionError as e:
        failures.append(str(e))
    finally:
        if subprocess.run(["umount", mnt]).returncode != 0:
            subprocess.run(["umount", "-l", mnt])
        os.rmdir(mnt)
    if failures:
        for f in failures[:40]:
            print("FAIL:", f)
        print(f"disk_full_test: {len(failures)} failures; server log {log_path}")
        return 1
    os.remove(log_path)
    print("disk_full_test: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
