"""What a user with no personal ranking gets: popular lists (cached), or text matches.

Popularity is the decayed sum of interaction weights, in the categories the user showed
interest in first, else overall.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from graphdb.reads import Filters, PopularItem
from graphdb.store import GraphStore

POPULAR_DEPTH = 1000  # popular items kept per scope; k is at most 1000


class PopularCache:
    """Popular lists change slowly; recomputing them per request would scan every edge.

    Args:
        ttl_s: How long a list is reused.
        clock: Monotonic seconds (the real clock unless a test steps one).
    """

    def __init__(self, ttl_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[tuple[Any, ...], tuple[float, list[PopularItem]]] = {}

    def get(
        self, key: tuple[Any, ...], compute: Callable[[], list[PopularItem]]
    ) -> list[PopularItem]:
        hit = self._entries.get(key)
        now = self._clock()
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        value = compute()
        self._entries[key] = (now, value)
        return value


def popular_fallback(
    store: GraphStore,
    filters: Filters,
    k: int,
    liked: list[str],
    seen: set[str],
    half_life_ms: float,
    cache: PopularCache,
) -> tuple[str, list[dict[str, Any]]]:
    f = filters
    skip = set(f.exclude) | (seen if f.exclude_seen else set())
    for kind, category in [("popular_in_your_categories", c) for c in liked[:3]] + [
        ("popular", f.category)
    ]:
        # One user-independent list per scope is cached; the user's exclusions apply here,
        # so the cache holds a handful of lists however many users ask.
        scoped = Filters((), False, category or f.category, f.brand)
        ranked = cache.get(
            (scoped.category, scoped.brand),
            partial(store.reads.popular_items, POPULAR_DEPTH, half_life_ms, scoped),
        )
        rows = [r for r in ranked if r.item_id not in skip][:k]
        if rows:
            reason = "popular in a category you like" if kind != "popular" else "trending"
            return kind, [
                {
                    "item_id": r.item_id,
                    "title": r.title,
                    "score": r.score,
                    "reasons": [{"type": kind, "text": reason}],
                }
                for r in rows
            ]
    return "popular", []


def search_matches(
    filters: Filters,
    k: int,
    steer: dict[str, tuple[float, str | None]] | None,
    seen: set[str],
) -> list[dict[str, Any]]:
    """The best text matches of a stated need, for a user with nothing personal to blend."""
    f = filters
    skip = set(f.exclude) | (seen if f.exclude_seen else set())
    steer = steer or {}
    best = sorted((i for i in steer if i not in skip), key=lambda i: (-steer[i][0], i))
    reason = [{"type": "search", "text": "matches what you asked for"}]
    return [{"item_id": i, "title": steer[i][1], "score": steer[i][0], "reasons": reason}
            for i in best[:k]]  # fmt: skip
