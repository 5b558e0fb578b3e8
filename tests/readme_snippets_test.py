#!/usr/bin/env python3
"""Runs the README's "Use it from your code" examples as written.

Every fenced block between <!-- snippets:begin --> and <!-- snippets:end -->
of README.md runs against its own fresh `cairn serve` (port 0, temporary
data directory), with CAIRN_URL set to it, and must exit 0 and print the
nearest point, id 1 with payload lang "en":

  python  with the package from client/python on the path;
  cpp     the binary CMake built from that very block (--cpp-example);
  sh      with bash (curl);
  js      with node, from tests/compat (whose node_modules hold the Qdrant
          JS client; installed from package-lock.json by npm ci if missing).

Usage: readme_snippets_test.py --binary CAIRN --cpp-example EXE
Standard library only. Exit 0 when every block ran, 1 on the first failure.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPAT = os.path.join(ROOT, "tests", "compat")


def snippets():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- snippets:begin -->(.*?)<!-- snippets:end -->", text, re.S)
    if not m:
        raise SystemExit("README.md: no snippets:begin/end markers")
    blocks = re.findall(r"```(\w+)\n(.*?)```", m.group(1), re.S)
    langs = [lang for lang, _ in blocks]
    if sorted(langs) != ["cpp", "js", "python", "sh"]:
        raise SystemExit(f"README.md: expected python, cpp, sh and js blocks, found {langs}")
    return blocks


class Server:
    def __init__(self, binary):
        self.root = tempfile.mkdtemp(prefix="cairn-readme-")
        self.log_path = os.path.join(self.root, "serve.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, "serve", "--data", os.path.join(self.root, "data"),
                                      "--port", "0", "--workers", "2"],
                                     stdout=self.log, stderr=self.log)
        self.url = None
        deadline = time.time() + 60
        while self.url is None:
            if self.proc.poll() is not None or time.time() > deadline:
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
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)


def ensure_js_client():
    if os.path.isdir(os.path.join(COMPAT, "node_modules", "@qdrant", "js-client-rest")):
        return
    print("readme_snippets: npm ci in tests/compat", flush=True)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=COMPAT,
                   check=True)


def command(lang, code, work, cpp_example):
    if lang == "python":
        return [sys.executable, "-c", code], None
    if lang == "cpp":
        return [cpp_example], None
    if lang == "sh":
        return ["bash", "-euo", "pipefail", "-c", code], None
    ensure_js_client()
    # ES modules resolve packages from the script's folder: put it beside
    # tests/compat's node_modules.
    path = os.path.join(COMPAT, f".readme-snippet-{os.getpid()}.mjs")
    with open(path, "w", encoding="utf-8") as f:
        f.write(code)
    return ["node", path], path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--cpp-example", required=True)
    args = ap.parse_args()
    failures = 0
    for lang, code in snippets():
        server = Server(args.binary)
        cleanup = None
        try:
            env = dict(os.environ, CAIRN_URL=server.url,
                       PYTHONPATH=os.path.join(ROOT, "client", "python"))
            argv, cleanup = command(lang, code, server.root, args.cpp_example)
            out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
            text = out.stdout.strip()
            # The top hit is point 1 and its payload says "en", in each
            # language's own printing.
            ok = out.returncode == 0 and re.search(r'(^|[\s":])1\b', text) and "en" in text
            print(f"readme_snippets: {lang}: exit {out.returncode}: {text[-300:]}", flush=True)
            if not ok:
                failures += 1
                print(f"readme_snippets: {lang} FAILED\n{out.stderr[-2000:]}", flush=True)
        finally:
            if cleanup:
                os.remove(cleanup)
            server.stop()
    print(f"readme_snippets: {4 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
