"""Request helpers shared by the blueprints."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from app.api.errors import ApiError
from app.ingest.validation import IntakeLimits, limits_from_settings
from app.settings import Settings


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


def intake_limits() -> IntakeLimits:
    return limits_from_settings(settings())
