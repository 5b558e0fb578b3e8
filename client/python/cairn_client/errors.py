"""Errors raised by the client.

Every failure is a CairnError. An answer of the server with an HTTP error
status is an ApiError that carries the status and the server's message (the
`status.error` of Qdrant's error body); a request that got no complete
answer (refused connection, reset, timeout) is a TransportError.
"""


class CairnError(Exception):
    """Base class of the client's errors."""


class ApiError(CairnError):
    """The server answered with an HTTP error status (4xx, 5xx).

    status_code: the HTTP status; message: the server's message; body: the
    decoded JSON body (or the raw text when it was not JSON).
    """

    def __init__(self, status_code, message, method="", path="", body=None):
        self.status_code = status_code
        self.message = message
        self.method = method
        self.path = path
        self.body = body
        where = f" ({method} {path})" if method else ""
        super().__init__(f"HTTP {status_code}{where}: {message}")


class TransportError(CairnError):
    """No complete answer arrived: connection refused or reset, or a timeout."""

    def __init__(self, message, cause=None, timed_out=False):
        self.cause = cause
        self.timed_out = timed_out
        super().__init__(message)
