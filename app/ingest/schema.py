"""The JSON Schema of what intake accepts, for the OpenAPI document.

The models' own schemas say the fields and their types; intake also checks rules in code
(which event types carry a value or a text, reserved and e-mail-like ids, the time window,
the configured limits). Those rules are added here so that the document refuses exactly what
intake refuses, and a generated client (or a fuzzer) can build every accepted record from it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app.ingest.ids import NOT_BLANK, RESERVED_ITEM_IDS
from app.ingest.validation import EMAIL, EventIn, IntakeLimits, ItemIn
from graphdb.fold import EVENT_TYPES, RATED_TYPES

REF_TEMPLATE = "#/components/schemas/{model}"
NULL: dict[str, Any] = {"type": "null"}


def _branch(prop: dict[str, Any], kind: str) -> dict[str, Any]:
    """The ``kind`` alternative of an optional field's ``anyOf`` (the field itself otherwise)."""
    for option in prop.get("anyOf", [prop]):
        if option.get("type") == kind:
            return option
    raise KeyError(kind)


def _not_reserved(prop: dict[str, Any]) -> None:
    prop["not"] = {"enum": sorted(RESERVED_ITEM_IDS)}


def _timestamp_pattern(first_year: int, last_year: int) -> str:
    """RFC 3339 date-times with a zone whose year lies in ``first_year..last_year``.

    Whole years only, one short of each end of the accepted window, so that any zone offset
    still lands inside it (the current year's past days are accepted too, but a pattern
    cannot follow the clock). February 29th is left out (a pattern cannot tell leap years).
    """
    years = "|".join(str(y) for y in range(first_year, last_year + 1))
    days = (
        "(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
        "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
        "|02-(?:0[1-9]|1[0-9]|2[0-8])"
    )
    clock = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    zone = "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
    return f"^(?:{years})-(?:{days})T{clock}{zone}$"


def _timestamp(limits: IntakeLimits, now_s: float) -> dict[str, Any]:
    earliest = datetime(limits.min_event_year, 1, 1, tzinfo=UTC)
    latest = now_s + limits.max_future_skew_s
    options: list[dict[str, Any]] = [
        {"type": "number", "minimum": earliest.timestamp(), "maximum": latest},
    ]
    last_year = datetime.fromtimestamp(now_s, UTC).year - 1
    if last_year > limits.min_event_year:
        pattern = _timestamp_pattern(limits.min_event_year + 1, last_year)
        options.insert(0, {"type": "string", "format": "date-time", "pattern": pattern})
    rule = (
        f"an RFC 3339 date-time with a zone, or epoch seconds; not before "
        f"{earliest.date().isoformat()} and at most {limits.max_future_skew_s:g} s past the "
        "server's clock (the number's maximum is that bound when this document was made); "
        "absent means now"
    )
    return {"anyOf": [*options, NULL], "default": None, "description": rule}


def _per_type_rules(limits: IntakeLimits) -> list[dict[str, Any]]:
    """Which types carry a star ``value`` (1 to 5) and a ``text``; ``rating`` needs a value."""
    stars = {"type": "number", "minimum": 1, "maximum": 5}
    text = {"type": "string", "maxLength": limits.max_text_chars}
    rules = []
    for kinds, value, review_text, required in (
        (["rating"], stars, False, ["value"]),
        (["review"], {"anyOf": [stars, NULL]}, True, []),
        (sorted(set(EVENT_TYPES) - RATED_TYPES), NULL, False, []),
    ):
        properties = {
            "type": {"enum": kinds},
            "value": value,
            "text": {"anyOf": [text, NULL]} if review_text else NULL,
        }
        rules.append({"properties": properties, "required": ["type", *required]})
    return rules


def event_schema(limits: IntakeLimits, now_s: float) -> dict[str, Any]:
    """One event as intake accepts it (``now_s``: the server's clock, epoch seconds)."""
    schema = EventIn.model_json_schema(ref_template=REF_TEMPLATE)
    props = schema["properties"]
    props["user_id"]["not"] = {"pattern": EMAIL.pattern}
    props["user_id"]["description"] += "; not an e-mail address"
    _not_reserved(props["item_id"])
    props["ts"] = _timestamp(limits, now_s)
    schema["oneOf"] = _per_type_rules(limits)
    return schema


def item_schema(limits: IntakeLimits, now_s: float) -> dict[str, Any]:
    """One catalog item as intake accepts it (``now_s`` is unused: items carry no time)."""
    del now_s
    schema = ItemIn.model_json_schema(ref_template=REF_TEMPLATE)
    props = schema["properties"]
    _not_reserved(props["item_id"])
    _branch(props["description"], "string")["maxLength"] = limits.max_text_chars
    _branch(props["brand"], "string")["pattern"] = NOT_BLANK
    _branch(props["category_path"], "array")["items"]["pattern"] = NOT_BLANK
    _branch(props["attributes"], "object")["propertyNames"]["pattern"] = NOT_BLANK
    return schema


INTAKE_SCHEMAS: dict[type, Callable[[IntakeLimits, float], dict[str, Any]]] = {
    EventIn: event_schema,
    ItemIn: item_schema,
}
