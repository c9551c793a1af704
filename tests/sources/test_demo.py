"""The built-in demo shop: determinism, shapes, popularity skew, drift, funnels and reviews."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest

from app.ingest.sources.demo import demo_stream
from app.ingest.sources.demo_catalog import NEGATIVE_WORDS, POSITIVE_WORDS

from .shapes import assert_shapes

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SIZE = {"n_users": 400, "n_items": 300, "n_events": 20_000}
Events = list[dict[str, Any]]


@cache
def generated(seed: int = 3, drift_share: float = 0.6) -> tuple[Events, Events]:
    stream = demo_stream(**SIZE, seed=seed, now=NOW, drift_share=drift_share)
    return list(stream.events()), list(stream.items())


def test_same_seed_gives_identical_output_and_other_seeds_differ() -> None:
    events, items = generated()
    again = demo_stream(**SIZE, seed=3, now=NOW)
    assert list(again.events()) == events
    assert list(again.items()) == items
    other_events, other_items = generated(seed=4)
    assert other_events != events and other_items != items


def test_every_dict_has_the_documented_shape_and_ids_are_unique() -> None:
    events, items = generated()
    assert_shapes(events, items)
    assert len({e["event_id"] for e in events}) == len(events)
    assert len({i["item_id"] for i in items}) == len(items) == SIZE["n_items"]
    assert all(len(i["category_path"]) == 3 and i["title"] and i["brand"] for i in items)


def test_volume_time_window_and_order() -> None:
    events, _ = generated()
    assert 0.85 * SIZE["n_events"] <= len(events) <= 1.15 * SIZE["n_events"]
    stamps = [e["ts"] for e in events]
    assert stamps == sorted(stamps)  # streamed in time order, like live traffic
    start = (NOW - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert start <= stamps[0] and stamps[-1] < NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len({e["user_id"] for e in events}) == SIZE["n_users"]


def test_catalog_has_a_three_level_tree() -> None:
    _, items = generated()
    roots = {i["category_path"][0] for i in items}
    leaves = {tuple(i["category_path"]) for i in items}
    assert len(roots) == 8 and len(leaves) == 40
    assert len({i["brand"] for i in items}) >= 30
    assert 0.8 < sum(i["in_stock"] for i in items) / len(items) < 1


def test_item_popularity_is_heavy_tailed() -> None:
    events, items = generated()
    counts = sorted(Counter(e["item_id"] for e in events).values(), reverse=True)
    top_share = sum(counts[: len(items) // 10]) / len(events)
    assert top_share >= 0.4, top_share
    assert counts[0] >= 10 * counts[len(counts) // 2]


def dominant_shift_share(events: Events, items: Events) -> float:
    """Share of users whose most frequent department differs between first and last third."""
    department = {i["item_id"]: i["category_path"][0] for i in items}
    history: dict[str, list[str]] = defaultdict(list)
    for event in events:
        history[event["user_id"]].append(department[event["item_id"]])
    shifted = eligible = 0
    for departments in history.values():
        if len(departments) < 15:
            continue
        third = len(departments) // 3
        first = Counter(departments[:third]).most_common(1)[0][0]
        last = Counter(departments[-third:]).most_common(1)[0][0]
        eligible += 1
        shifted += first != last
    assert eligible >= 100
    return shifted / eligible


def test_interests_drift_for_a_good_share_of_users() -> None:
    drifting = dominant_shift_share(*generated())
    stable = dominant_shift_share(*generated(drift_share=0.0))
    assert drifting >= 0.45, drifting
    assert drifting - stable >= 0.2, (drifting, stable)


def test_sessions_follow_the_funnel_with_realistic_conversion() -> None:
    events, _ = generated()
    steps: dict[tuple[str, str], list[str]] = defaultdict(list)
    for event in events:
        if event["type"] in ("view", "click", "cart", "purchase"):
            assert "session_id" in event
            steps[(event["session_id"], event["item_id"])].append(event["type"])
    for sequence in steps.values():
        for later, earlier in (("click", "view"), ("cart", "click"), ("purchase", "cart")):
            if later in sequence:
                assert earlier in sequence[: sequence.index(later)], sequence
    kinds = Counter(e["type"] for e in events)
    assert 0.01 <= kinds["purchase"] / kinds["view"] <= 0.1
    assert kinds["view"] > kinds["click"] > kinds["cart"] > kinds["purchase"] > 0
    assert kinds["favorite"] > 0 and kinds["rating"] > 0 and kinds["review"] > 0
    sessions = Counter(e["session_id"] for e in events if "session_id" in e)
    assert 2 <= sum(sessions.values()) / len(sessions) <= 8


def test_ratings_and_reviews_follow_purchases_and_match_their_text() -> None:
    events, _ = generated()
    bought: dict[tuple[str, str], str] = {}
    stars: Counter[float] = Counter()
    for event in events:
        key = (event["user_id"], event["item_id"])
        if event["type"] == "purchase":
            bought.setdefault(key, event["ts"])
        elif event["type"] in ("rating", "review"):
            assert key in bought and bought[key] < event["ts"], event
            assert "session_id" not in event
            stars[event["value"]] += 1
        if event["type"] == "review":
            words = set(event["text"].lower().replace(",", " ").replace(".", " ").split())
            if event["value"] >= 4:
                assert words & POSITIVE_WORDS and not words & NEGATIVE_WORDS, event
            elif event["value"] <= 2:
                assert words & NEGATIVE_WORDS and not words & POSITIVE_WORDS, event
    assert stars[5] + stars[4] > stars[1] + stars[2] + stars[3]  # J-shaped, like real shops
    assert stars[1] + stars[2] > 0


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="timezone"):
        demo_stream(now=datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        demo_stream(n_items=10, now=NOW)


def test_events_stream_without_the_whole_list_in_memory() -> None:
    """100k events pass through while memory holds the plan and a few hours of rows: far
    less than the events themselves (about 20 MB as rows)."""
    import tracemalloc

    stream = demo_stream(n_users=5_000, n_items=500, n_events=100_000, seed=1, now=NOW)
    tracemalloc.start()
    count = sum(1 for _ in stream.events())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count > 80_000
    assert peak < 6_000_000, peak
