"""Request helpers shared by the blueprints."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Flask, current_app, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from app.api.errors import ApiError
from app.ingest.validation import IntakeLimits, limits_from_settings
from app.settings import Settings

M = TypeVar("M", bound=BaseModel)


def settings() -> Settings:
    value: Settings = current_app.config["SETTINGS"]
    return value


def json_body() -> Any:
    """The parsed JSON body, or a 415/400 that says what was wrong with it."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        payload = request.get_json(silent=True)
    except RecursionError:  # the parser recurses per level: '[' x 2000 exhausts the stack
        raise ApiError(400, "malformed_json", "the body is nested too deeply") from None
    if payload is None:
        raise ApiError(400, "malformed_json", "the body is not valid JSON")
    return payload


def validated_body(model: type[M], example: str) -> M:
    """The JSON body as ``model``, or a 400 naming the first field that is wrong."""
    payload = json_body()
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_input", f"send a JSON object like {example}")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in problem["loc"]) or "body"
        raise ApiError(
            400, "invalid_input", f"field '{field}': {problem['msg']}", {"field": field}
        ) from None


def intake_limits() -> IntakeLimits:
    return limits_from_settings(settings())


def wall_now() -> datetime:
    """Now, by the app's wall clock (``create_app(wall_clock=...)``)."""
    return datetime.fromtimestamp(current_app.config["WALL_CLOCK"](), UTC)


def init_body_limit(app: Flask) -> None:
    """Refuses a chunked body over ``MAX_CONTENT_LENGTH`` with 413, as one with a length is.

    Without a ``Content-Length`` Werkzeug silently cuts the body at the limit, so an oversize
    chunked body parsed as truncated JSON (400 ``malformed_json``). The body is read here, up
    to one byte past the limit, before anything else reads it.
    """

    @app.before_request
    def _limit_chunked_body() -> None:
        if request.content_length is not None:
            return  # Werkzeug refuses an oversize declared length itself
        if "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
            return
        limit: int = current_app.config["MAX_CONTENT_LENGTH"]
        body = request.environ["wsgi.input"].read(limit + 1)
        if len(body) > limit:
            raise RequestEntityTooLarge()
        request.environ["wsgi.input"] = io.BytesIO(body)
