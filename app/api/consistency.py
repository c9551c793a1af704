"""Read your own writes across API hosts: the ``X-Graph-Bookmark`` header.

Every successful write (``POST``/``PUT``/``PATCH``/``DELETE`` under ``/api/v1``) answers with
``X-Graph-Bookmark``: an opaque token for what this process had committed when it answered.
A client that sends it back on any later request - to any API host of the same graph - is
answered only once that host's Neo4j server has applied those writes. On one server the wait is
nil; in a cluster (reads routed to secondaries) it is what makes "post an event, then read the
user's recommendations through another host" see the event. A client that does not send the
header gets what it got before: the host's own causal order.
"""

from __future__ import annotations

from flask import Flask, Response, request

from app.api.errors import ApiError
from app.api.wiring import graph_store
from graphdb.consistency import BookmarkError

HEADER = "X-Graph-Bookmark"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def init_bookmarks(app: Flask) -> None:
    """Wait for a request's bookmark before its view runs; give writes theirs."""

    @app.before_request
    def _wait_for_bookmark() -> None:
        token = request.headers.get(HEADER)
        if token is None:
            return
        try:
            graph_store().consistency.wait_for(token.strip())
        except BookmarkError as exc:
            raise ApiError(400, "invalid_bookmark", f"{HEADER}: {exc}") from exc

    @app.after_request
    def _give_bookmark(response: Response) -> Response:
        written = request.method in WRITES and response.status_code < 400
        if written and request.path.startswith("/api/"):
            token = graph_store().consistency.token()
            if token:
                response.headers[HEADER] = token
        return response
