"""HTTP/1.1 with keep-alive over http.client, one connection per thread.

Retries: a request marked idempotent (reads, and writes keyed by point id,
whose repeat leaves the same state: upsert, delete, payload updates) is sent
again after a 503 or after the connection was refused, reset or closed
before a complete answer, up to `retries` times, waiting
backoff * 2**attempt seconds (with jitter, capped at max_backoff) between
tries. Other requests (creating or deleting a collection) are sent once; a
timeout is never retried, since the server may still be working on it.

A kept-alive connection that the server closed while idle (its 30 s idle
limit, a restart) is noticed before the request is written and replaced, so
that case costs no retry and is safe for every request.
"""
import http.client
import json
import random
import select
import socket
import threading
import time
import urllib.parse

from .errors import ApiError, TransportError

_RETRY_STATUS = 503


def parse_url(url):
    """(host, port) of http://HOST[:PORT][/]; anything else is a ValueError."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"URL {url!r}: expected http://HOST:PORT (https is not supported)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"URL {url!r}: expected http://HOST:PORT without a path")
    if not parts.hostname:
        raise ValueError(f"URL {url!r}: no host")
    try:
        port = parts.port or 80
    except ValueError as e:
        raise ValueError(f"URL {url!r}: {e}") from None
    return parts.hostname, port


def _server_message(status, raw):
    """The server's message from Qdrant's error body, and the decoded body."""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        text = raw.decode("utf-8", errors="replace")
        return text.strip() or http.client.responses.get(status, ""), text
    if isinstance(body, dict) and isinstance(body.get("status"), dict):
        error = body["status"].get("error")
        if isinstance(error, str):
            return error, body
    return http.client.responses.get(status, "error"), body


class Transport:
    def __init__(self, url, api_key=None, timeout=30.0, retries=3, backoff=0.1, max_backoff=2.0):
        self.host, self.port = parse_url(url)
        self.url = f"http://{self.host}:{self.port}"
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._local = threading.local()
        # Every thread's connection, so that close() closes them all.
        self._lock = threading.Lock()
        self._all = set()
        self.connects = 0
        self.retried = 0

    def close(self):
        """Closes every thread's connection; the next request reconnects."""
        with self._lock:
            conns, self._all = self._all, set()
        for conn in conns:
            conn.close()

    def _drop(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            with self._lock:
                self._all.discard(conn)

    def _connection(self, timeout):
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None and self._stale(conn.sock):
            self._drop()
            conn = None
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            self._local.conn = conn
            with self._lock:
                self._all.add(conn)
                self.connects += 1
        elif conn.sock is not None:
            conn.sock.settimeout(timeout)
        else:
            conn.timeout = timeout
        return conn

    @staticmethod
    def _stale(sock):
        # Readable while no request is outstanding: the server closed the
        # connection (EOF) or sent something unasked (a 408 before closing).
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def request(self, method, path, body=None, idempotent=False, timeout=None):
        """The decoded `result` of the server's answer (the whole body for
        answers without Qdrant's envelope). Raises ApiError, TransportError."""
        timeout = self.timeout if timeout is None else timeout
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        headers = {"Accept": "application/json", "User-Agent": "cairn-client-python"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["api-key"] = self.api_key
        attempts = 1 + (self.retries if idempotent else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                status, raw = self._exchange(method, path, data, headers, timeout)
            except socket.timeout as e:
                self._drop()
                raise TransportError(f"{self.url}: timeout after {timeout} s in {method} {path}",
                                     e, timed_out=True) from None
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                self._drop()
                if last:
                    raise TransportError(f"{self.url}: {method} {path}: {e}", e) from None
                self._sleep(attempt)
                continue
            if status == _RETRY_STATUS and not last:
                self._sleep(attempt)
                continue
            if status >= 400:
                message, decoded = _server_message(status, raw)
                raise ApiError(status, message, method, path, decoded)
            return self._result(raw)
        raise AssertionError("unreachable")

    def _exchange(self, method, path, data, headers, timeout):
        conn = self._connection(timeout)
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        if resp.will_close:
            self._drop()
        return resp.status, raw

    @staticmethod
    def _result(raw):
        if not raw:
            return None
        try:
            body = json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", errors="replace")
        if isinstance(body, dict) and "result" in body and "status" in body:
            return body["result"]
        return body

    def _sleep(self, attempt):
        self.retried += 1
        delay = min(self.max_backoff, self.backoff * (2 ** attempt))
        time.sleep(delay * (0.5 + random.random() / 2))
