"""Request helpers shared by the blueprints."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from app.errors import ApiError
from app.settings import Settings
from app.validation import IntakeLimits


def settings() -> Settings:
    value: Settings = current_app.config["SETTINGS"]
    return value


def json_body() -> Any:
    """The parsed JSON body, or a 415/400 that says what was wrong with it."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    payload = request.get_json(silent=True)
    if payload is None:
        raise ApiError(400, "malformed_json", "the body is not valid JSON")
    return payload


def intake_limits() -> IntakeLimits:
    return limits_from_settings(settings())


def limits_from_settings(s: Settings) -> IntakeLimits:
    return IntakeLimits(
        max_batch=s.max_batch_events,
        max_text_chars=s.max_text_chars,
        max_future_skew_s=s.max_future_skew_s,
        min_event_year=s.min_event_year,
    )
