"""One JSON error shape for every failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from app.ingest.validation import InvalidInput
from graphdb.driver import is_unavailable

log = logging.getLogger(__name__)

RETRY_AFTER_S = "5"


class ApiError(Exception):
    """An error a handler raises on purpose, with its HTTP status and a stable code."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": details}})
    response.status_code = status
    return response


def _http_code(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(InvalidInput)
    def _invalid(exc: InvalidInput) -> Response:
        return error_response(400, "invalid_input", str(exc), [p.as_dict() for p in exc.problems])

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        response = error_response(exc.code or 500, _http_code(exc), exc.description or exc.name)
        if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if is_unavailable(exc):
            return _graph_down(exc)
        # Never echo exception text: it can leak queries, paths or data.
        incident = uuid.uuid4().hex[:12]
        log.exception("unhandled error (incident %s)", incident)
        return error_response(500, "internal_error", "internal error", {"incident": incident})


def _graph_down(exc: Exception) -> Response:
    """Neo4j down or busy: a 503 the client may retry after a few seconds."""
    log.warning("graph store unavailable: %s", exc)
    response = error_response(
        503, "graph_unavailable", "the graph store is unavailable; retry shortly"
    )
    response.headers["Retry-After"] = RETRY_AFTER_S
    return response
