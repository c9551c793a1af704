"""Time-decayed folding of behaviour events into edge weights (pure Python, no I/O).

An edge's weight is ``sum(contribution_i * 2 ** (-(t - ts_i) / half_life))``. We store it as of
the edge's own anchor ``t = last_ts`` (its newest event). Merging a group of events with
anchor ``a2`` and partial weight ``w2`` into an edge ``(w1, a1)`` gives, with ``a = max(a1, a2)``::

    w = w1 * 2 ** (-(a - a1) / h) + w2 * 2 ** (-(a - a2) / h)

which is exact and does not depend on the order in which events arrive. The weight at any
later time ``now`` is ``w * 2 ** (-(now - last_ts) / h)``.

Each event's contribution depends on the event alone (type, stars, and the sentiment of its text
scored once at intake), never on other events, which is what keeps the fold exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, get_args

# The behaviour event types, written once: the API's schema validates against the Literal, the
# fold, the bulk loader and the data sources iterate the tuple (in this order: type codes).
EventType = Literal["view", "click", "cart", "favorite", "purchase", "rating", "review"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
RATED_TYPES = frozenset({"rating", "review"})

DEFAULT_TYPE_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "click": 2.0,
    "cart": 4.0,
    "favorite": 5.0,
    "purchase": 8.0,
    "rating": 6.0,
    "review": 6.0,
}
DEFAULT_HALF_LIFE_DAYS = 30.0
MS_PER_DAY = 86_400_000


class EventRow(NamedTuple):
    """One validated behaviour event, ready to store. ``ts_ms`` is epoch milliseconds (UTC).

    A named tuple rather than a frozen dataclass: a first load builds millions of these, and a
    frozen dataclass's field-by-field ``__init__`` cost more per event than checking it.
    """

    event_id: str
    user_id: str
    item_id: str
    type: str
    ts_ms: int
    value: float | None = None
    text: str | None = None
    session_id: str | None = None
    sentiment: float | None = None  # of ``text`` in [-1, 1], scored at intake (reviews only)


@dataclass(frozen=True)
class FoldConfig:
    """Type weights and decay. A star value scales rated events around the neutral star."""

    type_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_TYPE_WEIGHTS))
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    rating_neutral: float = 3.0
    rating_span: float = 2.0

    def __post_init__(self) -> None:
        missing = set(EVENT_TYPES) - set(self.type_weights)
        if missing:
            raise ValueError(f"type_weights lacks {sorted(missing)}")
        if not self.half_life_days > 0:
            raise ValueError("half_life_days must be positive")
        if not self.rating_span > 0:
            raise ValueError("rating_span must be positive")

    @property
    def half_life_ms(self) -> float:
        return self.half_life_days * MS_PER_DAY

    def contribution(
        self, event_type: str, value: float | None, sentiment: float | None = None
    ) -> float:
        """Undecayed weight of one event: a 1-star rating counts against the item.

        A rated event's stars decide its sign and size; only a review *without* stars falls
        back to the sentiment of its text, so a negative review counts against the item.
        """
        base = float(self.type_weights[event_type])
        if event_type in RATED_TYPES and value is not None:
            return base * (value - self.rating_neutral) / self.rating_span
        if event_type in RATED_TYPES and sentiment is not None:
            return base * min(1.0, max(-1.0, sentiment))
        return base

    def decay(self, age_ms: float) -> float:
        return math.pow(2.0, -age_ms / self.half_life_ms)


@dataclass
class _Accumulator:
    first_ms: int
    last_ms: int
    weighted: list[tuple[int, float]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, ts_ms: int, contribution: float, event_type: str) -> None:
        self.first_ms = min(self.first_ms, ts_ms)
        self.last_ms = max(self.last_ms, ts_ms)
        self.weighted.append((ts_ms, contribution))
        self.counts[event_type] = self.counts.get(event_type, 0) + 1

    def weight(self, config: FoldConfig) -> float:
        return sum(c * config.decay(self.last_ms - ts) for ts, c in self.weighted)


def _accumulate(
    keyed: Iterable[tuple[tuple[str, str], EventRow]], config: FoldConfig
) -> dict[tuple[str, str], _Accumulator]:
    groups: dict[tuple[str, str], _Accumulator] = {}
    for key, event in keyed:
        acc = groups.get(key)
        if acc is None:
            acc = groups[key] = _Accumulator(first_ms=event.ts_ms, last_ms=event.ts_ms)
        weight = config.contribution(event.type, event.value, event.sentiment)
        acc.add(event.ts_ms, weight, event.type)
    return groups


def fold_interactions(events: Iterable[EventRow], config: FoldConfig) -> list[dict[str, Any]]:
    """One row per (user, item): partial weight at its own anchor, per-type counts, span."""
    groups = _accumulate((((e.user_id, e.item_id), e) for e in events), config)
    rows = []
    for (user_id, item_id), acc in sorted(groups.items()):
        row: dict[str, Any] = {
            "user_id": user_id,
            "item_id": item_id,
            "weight": acc.weight(config),
            "first_ms": acc.first_ms,
            "last_ms": acc.last_ms,
            "count": sum(acc.counts.values()),
        }
        row.update({f"count_{t}": acc.counts.get(t, 0) for t in EVENT_TYPES})
        rows.append(row)
    return rows


def fold_interests(
    events: Iterable[EventRow], targets_by_item: Mapping[str, Iterable[str]], config: FoldConfig
) -> list[dict[str, Any]]:
    """One row per (user, target) where targets are an item's categories or brands."""
    keyed = (
        ((e.user_id, target), e) for e in events for target in targets_by_item.get(e.item_id, ())
    )
    groups = _accumulate(keyed, config)
    return [
        {
            "user_id": user_id,
            "target_id": target_id,
            "weight": acc.weight(config),
            "last_ms": acc.last_ms,
            "count": sum(acc.counts.values()),
        }
        for (user_id, target_id), acc in sorted(groups.items())
    ]


def merge_weight(
    w1: float, anchor1_ms: int, w2: float, anchor2_ms: int, config: FoldConfig
) -> tuple[float, int]:
    """The Python twin of the Cypher merge rule; used by tests and offline tools."""
    anchor = max(anchor1_ms, anchor2_ms)
    weight = w1 * config.decay(anchor - anchor1_ms) + w2 * config.decay(anchor - anchor2_ms)
    return weight, anchor
