"""API-key authentication and scopes, checked before every request.

``read`` serves GETs, ``write`` event intake and catalog upserts, ``admin`` everything,
including deletions and refresh control. Health probes and the API description are public.
A verified key is cached for ``ttl_s`` seconds so a hot endpoint does not pay a graph
round trip per request; a revocation therefore takes effect within that time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask, request

from app.api.errors import ApiError
from app.api.wiring import graph_store
from graphdb.apikeys import ApiKeyInfo

PUBLIC_PREFIXES = ("/health/", "/api/v1/openapi.json", "/docs", "/metrics")
ADMIN_ROUTES = {("DELETE", "users.delete_user"), ("POST", "refresh.request_refresh")}


class KeyCache:
    """Verified keys, each trusted for ``ttl_s`` seconds of ``clock`` (monotonic seconds)."""

    def __init__(self, ttl_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._hits: dict[str, tuple[float, ApiKeyInfo]] = {}

    def verify(self, raw: str) -> ApiKeyInfo | None:
        now = self._clock()
        hit = self._hits.get(raw)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        info = graph_store().api_keys.verify(raw)
        if info is not None:
            self._hits[raw] = (now, info)
        return info


def required_scope(method: str, endpoint: str | None) -> str:
    if (method, endpoint) in ADMIN_ROUTES or method == "DELETE":
        return "admin"
    return "read" if method in ("GET", "HEAD", "OPTIONS") else "write"


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
