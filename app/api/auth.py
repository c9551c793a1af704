"""API-key authentication and scopes, checked before every request.

``read`` serves GETs, ``write`` event intake and catalog upserts, ``admin`` everything,
including deletions and refresh control. Health probes and the API description are public.
A verified key is cached for ``ttl_s`` seconds so a hot endpoint does not pay a graph
round trip per request; each worker polls the graph for revoked keys twice a second (one
indexed read), so a revocation takes effect in every worker within a second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Flask, request

from app.api.errors import ApiError
from app.api.wiring import graph_store
from graphdb.apikeys import ApiKeyInfo

PUBLIC_PREFIXES = ("/health/", "/api/v1/openapi.json", "/docs", "/metrics", "/browser/")
log = logging.getLogger(__name__)

ADMIN_ROUTES = {("DELETE", "users.delete_user"), ("POST", "refresh.request_refresh")}
# POSTs that only read: the body carries what a query string cannot hold.
READ_ROUTES = {("POST", "users.recommendations_excluding")}


class KeyCache:
    """Verified keys, each trusted for ``ttl_s`` seconds of ``clock`` (monotonic seconds).

    Every ``poll_s`` seconds (while any key is cached) the cache asks the graph which keys
    were revoked since its last look and drops them, so a revocation made through any worker
    or the CLI reaches this worker within ``poll_s`` plus one indexed read. The lower bound
    of each look trails the server's clock by ``overlap_s`` so that a revocation committed
    while a look ran is still seen by the next one.
    """

    def __init__(
        self,
        ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        poll_s: float = 0.5,
        overlap_s: float = 30.0,
    ) -> None:
        self.ttl_s, self.poll_s, self.overlap = ttl_s, poll_s, timedelta(seconds=overlap_s)
        self._clock = clock
        self._hits: dict[str, tuple[float, ApiKeyInfo]] = {}
        self._polled_at: float | None = None
        self._since: datetime | None = None
        self._poll_lock = threading.Lock()

    def verify(self, raw: str) -> ApiKeyInfo | None:
        now = self._clock()
        self.drop_revoked(now)
        hit = self._hits.get(raw)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        info = graph_store().api_keys.verify(raw)
        if info is not None:
            self._hits[raw] = (now, info)
        else:
            self._hits.pop(raw, None)
        return info

    def drop_revoked(self, now: float) -> None:
        """Polls the graph for revocations when ``poll_s`` has passed; drops those keys."""
        if not self._hits:
            self._since = None  # nothing cached: nothing to drop, the next look starts afresh
            return
        if self._polled_at is not None and now - self._polled_at < self.poll_s:
            return
        if not self._poll_lock.acquire(blocking=False):
            return  # another request of this worker is looking right now
        try:
            self._polled_at = now
            since = self._since or datetime.now(UTC) - self.overlap
            read = graph_store().api_keys.revoked_since(since)
            if read is None:
                # The graph is unreachable, so no revocation can be written either; cached
                # keys stay trusted for at most ``ttl_s``; the next look re-reads ``since``.
                log.warning("API-key revocations unreadable; keeping cached keys")
                return
            server_now, revoked = read
            self._since = server_now - self.overlap
            for raw, (_, info) in list(self._hits.items()):
                if info.key_id in revoked:
                    self._hits.pop(raw, None)
        finally:
            self._poll_lock.release()


def required_scope(method: str, endpoint: str | None) -> str:
    if (method, endpoint) in ADMIN_ROUTES or method == "DELETE":
        return "admin"
    if method in ("GET", "HEAD", "OPTIONS") or (method, endpoint) in READ_ROUTES:
        return "read"
    return "write"


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("X-API-Key")


def init_auth(app: Flask, enabled: bool, clock: Callable[[], float] = time.monotonic) -> None:
    cache = KeyCache(clock=clock)

    @app.before_request
    def _authenticate() -> None:
        if not enabled or request.path.startswith(PUBLIC_PREFIXES) or request.endpoint is None:
            return
        raw = _presented_key()
        if not raw:
            raise ApiError(401, "unauthorized", "send an API key: 'Authorization: Bearer <key>'")
        info = cache.verify(raw)
        if info is None:
            raise ApiError(401, "unauthorized", "the API key is unknown or revoked")
        scope = required_scope(request.method, request.endpoint)
        if scope not in info.scopes and "admin" not in info.scopes:
            raise ApiError(403, "forbidden", f"this key lacks the '{scope}' scope",
                           {"required": scope, "granted": list(info.scopes)})  # fmt: skip
