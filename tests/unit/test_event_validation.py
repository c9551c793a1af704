"""Intake validation: the fast typed-dict check keeps the documented schema and its rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.ingest.validation import (
    EVENT_FIELDS,
    EventIn,
    IntakeLimits,
    InvalidInput,
    limits_from_settings,
    parse_events,
    parse_items,
)
from app.settings import Settings
from graphdb.fold import DEFAULT_TYPE_WEIGHTS, EVENT_TYPES

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    # Defaults are documentation only; ts is checked in code (forms named in its errors).
    props = {
        k: {a: b for a, b in v.items() if a != "default"} for k, v in schema["properties"].items()
    }
    props.pop("ts")
    return props


def test_the_checked_fields_are_the_documented_ones() -> None:
    documented, checked = EventIn.model_json_schema(), EVENT_FIELDS.json_schema()
    assert _properties(documented) == _properties(checked)
    assert documented["required"] == checked["required"]
    assert documented["additionalProperties"] is checked["additionalProperties"] is False


def test_a_derived_event_id_is_stable_across_releases() -> None:
    # Re-importing a file must recognise events stored by earlier versions of the service.
    # (Those stripped white space around ids, so " u1 " was stored as "u1", with this id;
    # an id with white space around it is refused now, as the OpenAPI document says.)
    event = {"user_id": "u1", "item_id": "i1", "type": "rating", "value": 4,
             "ts": "2024-05-01T12:00:00Z"}  # fmt: skip
    (row,) = parse_events(event, IntakeLimits(), now=NOW)
    assert (row.user_id, row.value, row.ts_ms) == ("u1", 4.0, 1714564800000)
    assert row.event_id == "d-ab1e310d3ff87ef2f782346617315f86"


BAD = [
    ({"user_id": "u", "item_id": "i", "type": "view", "ts": True}, "ts", "RFC 3339"),
    ({"user_id": "u", "item_id": "i", "type": "view", "ts": "2024-05-01T12:00:00"}, "ts", "zone"),
    ({"user_id": "u", "item_id": "i", "type": "view", "ts": "yesterday"}, "ts", "RFC 3339"),
    ({"user_id": "a@b.com", "item_id": "i", "type": "view"}, "user_id", "e-mail"),
    ({"user_id": "u", "item_id": "i", "type": "view", "value": 3}, "value", "only accepted"),
    ({"user_id": "u", "item_id": "i", "type": "rating", "value": float("nan")}, "value", "finite"),
    ({"user_id": "u", "item_id": "i", "type": "view", "colour": "red"}, "colour", "unknown field"),
    ({"user_id": "u", "type": "view"}, "item_id", "required"),
    ("not an object", "(record)", "dictionary"),
]


@pytest.mark.parametrize(("record", "field", "message"), BAD)
def test_each_bad_record_is_named_by_index_and_field_among_good_ones(
    record: Any, field: str, message: str
) -> None:
    good = {"user_id": "u", "item_id": "i", "type": "view", "ts": "2024-05-01T12:00:00Z"}
    with pytest.raises(InvalidInput) as failure:
        parse_events([good, record, good, {**good, "type": "sneeze"}], IntakeLimits(), now=NOW)
    problems = [(p.index, p.field) for p in failure.value.problems]
    assert problems == [(1, field), (3, "type")], "every bad record, and only those"
    assert message.lower() in failure.value.problems[0].message.lower()


def test_the_schema_accepts_exactly_the_fold_s_event_types() -> None:
    # One list of types: the API refuses what the fold has no weight for, and takes all it has.
    documented = EventIn.model_json_schema()["properties"]["type"]["enum"]
    assert documented == list(EVENT_TYPES) == list(DEFAULT_TYPE_WEIGHTS)


def test_intake_limits_default_to_the_settings_defaults() -> None:
    defaults = Settings.model_construct()  # the field defaults, whatever the environment says
    assert IntakeLimits() == limits_from_settings(defaults)
    smaller = Settings.model_construct(max_text_chars=10, max_batch_events=3)
    assert limits_from_settings(smaller) == IntakeLimits(max_batch=3, max_text_chars=10)


def test_the_item_description_follows_the_text_limit() -> None:
    limits = IntakeLimits(max_text_chars=10)
    (row,) = parse_items({"item_id": "i1", "description": "x" * 10}, limits)
    assert row.description == "x" * 10
    with pytest.raises(InvalidInput) as failure:
        parse_items([{"item_id": "i1"}, {"item_id": "i2", "description": "x" * 11}], limits)
    (problem,) = failure.value.problems
    assert (problem.index, problem.field) == (1, "description")
    assert "longer than 10 characters" in problem.message
