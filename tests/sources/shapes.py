"""Independent checks of the documented EVENT and ITEM dict shapes, and a skip for absent data.

Written from the API contract (not from app.ingest.sources), so a mapper that drifts from the contract
fails here rather than at import time against a live server.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from app.settings import shared_data_dir

EVENT_KEYS = {"event_id", "user_id", "item_id", "type", "ts", "value", "text", "session_id"}
ITEM_KEYS = {
    "item_id",
    "title",
    "description",
    "category_path",
    "brand",
    "price",
    "in_stock",
    "attributes",
}
TYPES = {"view", "click", "cart", "favorite", "purchase", "rating", "review"}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
IDENTIFIER = re.compile(r"^[^\s\x00-\x1f]{1,128}$")


def needs_shared(subfolder: str) -> pytest.MarkDecorator:
    folder = shared_data_dir() / subfolder
    reason = f"real dataset folder {folder} is absent (set IG_SHARED_DATA to its parent)"
    return pytest.mark.skipif(not folder.is_dir(), reason=reason)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def event_problems(event: dict[str, Any]) -> list[str]:
    problems = [f"unknown key {key}" for key in event if key not in EVENT_KEYS]
    for key in ("user_id", "item_id", "type", "ts"):
        if key not in event:
            problems.append(f"missing {key}")
    for key in ("event_id", "user_id", "item_id", "session_id"):
        if key in event and not (isinstance(event[key], str) and IDENTIFIER.match(event[key])):
            problems.append(f"bad {key} {event[key]!r}")
    kind = event.get("type")
    if kind not in TYPES:
        problems.append(f"bad type {kind!r}")
    ts = event.get("ts")
    if isinstance(ts, str):
        if not RFC3339.match(ts):
            problems.append(f"ts not RFC 3339 with zone: {ts!r}")
        else:
            datetime.fromisoformat(ts.replace("Z", "+00:00"))
    elif not _is_number(ts):
        problems.append(f"bad ts {ts!r}")
    value = event.get("value")
    if kind == "rating" and value is None:
        problems.append("rating without value")
    if value is not None and (kind not in ("rating", "review") or not _is_number(value)):
        problems.append(f"value {value!r} on {kind}")
    elif value is not None and not 1 <= value <= 5:
        problems.append(f"value {value!r} outside 1..5")
    text = event.get("text")
    if text is not None and (kind != "review" or not isinstance(text, str) or len(text) > 20_000):
        problems.append(f"bad text on {kind}")
    return problems


def item_problems(item: dict[str, Any]) -> list[str]:
    problems = [] if set(item) == ITEM_KEYS else [f"keys {sorted(item)}"]
    if not (isinstance(item.get("item_id"), str) and IDENTIFIER.match(item["item_id"])):
        problems.append(f"bad item_id {item.get('item_id')!r}")
    for key, limit in (("title", 1000), ("description", 20_000), ("brand", 200)):
        value = item.get(key)
        if value is not None and not (isinstance(value, str) and 1 <= len(value) <= limit):
            problems.append(f"bad {key} {value!r}")
    path = item.get("category_path")
    if not isinstance(path, list) or len(path) > 10:
        problems.append(f"bad category_path {path!r}")
    elif not all(isinstance(s, str) and 1 <= len(s) <= 200 for s in path):
        problems.append(f"bad category segment in {path!r}")
    price = item.get("price")
    if price is not None and not (_is_number(price) and price >= 0):
        problems.append(f"bad price {price!r}")
    if item.get("in_stock") is not None and not isinstance(item["in_stock"], bool):
        problems.append(f"bad in_stock {item['in_stock']!r}")
    attributes = item.get("attributes")
    if not isinstance(attributes, dict):
        problems.append(f"bad attributes {attributes!r}")
    elif not all(
        isinstance(k, str) and isinstance(v, str | int | float | bool)
        for k, v in attributes.items()
    ):
        problems.append(f"attributes not flat: {attributes!r}")
    return problems


def assert_shapes(events: list[dict[str, Any]], items: list[dict[str, Any]]) -> None:
    bad_events = [(e, p) for e in events if (p := event_problems(e))]
    bad_items = [(i, p) for i in items if (p := item_problems(i))]
    assert not bad_events, bad_events[:3]
    assert not bad_items, bad_items[:3]
