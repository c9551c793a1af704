"""Gunicorn's own refusals in the API's JSON error shape.

Gunicorn answers a request it cannot parse (a request line over its limit: 414; headers too
large: 431; a malformed line or chunk: 400) before the app sees it, with an HTML page. The
worker below keeps gunicorn's judgement (which failure, which status, its logging and access
line) and only rewrites the page it sends: ``{"error": {"code", "message", "details"}}``
like every other answer of the API. Gunicorn's message (it may quote the request) is not
echoed; a 500 from here says nothing either.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

MESSAGES = {
    400: "the request could not be parsed",
    403: "the request is forbidden",
    414: "the request line is too long: send long lists in the body "
    '(POST /api/v1/users/{user_id}/recommendations takes {"exclude": [...]})',
    417: "the Expect header cannot be met",
    431: "the request headers are too large",
    501: "the transfer coding is not supported",
}


class _Captured:
    """Stands for the client socket while gunicorn writes its page, to learn the status."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0  # util.write_nonblock then writes straight through sendall

    def sendall(self, data: bytes) -> None:
        self.data += data

    def status(self) -> tuple[int, str]:
        line = self.data.split(b"\r\n", 1)[0].decode("latin1").split(" ", 2)
        if len(line) == 3 and line[1].isdigit():
            return int(line[1]), line[2]
        return 500, "Internal Server Error"


def json_error_page(status: int, reason: str) -> bytes:
    """The raw HTTP answer: the status line gunicorn chose and a JSON body."""
    code = reason.lower().replace(" ", "_") if status != 500 else "internal_error"
    message = MESSAGES.get(status, "internal server error" if status >= 500 else reason.lower())
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin1") + body


class JsonErrorWorker(ThreadWorker):
    """gunicorn's threaded worker, whose own error pages are the API's JSON errors."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        captured = _Captured()
        super().handle_error(req, captured, addr, exc)  # logs, access line, the status
        try:
            util.write_nonblock(client, json_error_page(*captured.status()))
        except Exception:  # the client may be gone: gunicorn ignores that too
            self.log.debug("Failed to send error message.")
