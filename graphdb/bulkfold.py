"""The fold of ``graphdb.fold``, vectorised over a whole history for the offline load.

``graphdb.fold`` folds a batch event by event in Python, which is right for a 1,000-event
HTTP batch and far too slow for a first load of millions. Here the same rule runs on numpy
columns: group events by (user, item), anchor each group at its newest event, and sum
``contribution * 2 ** (-(anchor - ts) / half_life)``. The results equal the online path's
up to floating-point summation order (a test compares the two graphs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphdb.fold import EVENT_TYPES, EventRow, FoldConfig

TYPE_CODES = {name: code for code, name in enumerate(EVENT_TYPES)}


def factorize(values: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Integer codes in first-seen order, and the distinct values they stand for."""
    index: dict[str, int] = {}
    codes = np.fromiter(
        (index.setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values)
    )
    return codes, list(index)


@dataclass(frozen=True)
class EventColumns:
    """Validated events as columns; ``value`` and ``sentiment`` hold NaN where absent."""

    event_id: list[str]
    user_id: list[str]
    item_id: list[str]
    type_code: np.ndarray
    ts_ms: np.ndarray
    value: np.ndarray
    sentiment: np.ndarray
    contribution: np.ndarray
    text: list[str | None]
    session_id: list[str | None]

    def __len__(self) -> int:
        return len(self.event_id)

    @classmethod
    def from_rows(cls, events: Sequence[EventRow], config: FoldConfig) -> EventColumns:
        n = len(events)
        nan = float("nan")
        return cls(
            event_id=[e.event_id for e in events],
            user_id=[e.user_id for e in events],
            item_id=[e.item_id for e in events],
            type_code=np.fromiter((TYPE_CODES[e.type] for e in events), np.int8, count=n),
            ts_ms=np.fromiter((e.ts_ms for e in events), np.int64, count=n),
            value=np.fromiter((nan if e.value is None else e.value for e in events), float, n),
            sentiment=np.fromiter(
                (nan if e.sentiment is None else e.sentiment for e in events), float, n
            ),
            contribution=np.fromiter(
                (config.contribution(e.type, e.value, e.sentiment) for e in events), float, n
            ),
            text=[e.text for e in events],
            session_id=[e.session_id for e in events],
        )

    @classmethod
    def concat(cls, parts: Sequence[EventColumns]) -> EventColumns:
        """The parts one after the other (an empty list gives no events)."""
        if not parts:
            return cls.from_rows([], FoldConfig())
        return cls(**{f: _joined([getattr(p, f) for p in parts]) for f in _FIELDS})

    def take(self, rows: np.ndarray) -> EventColumns:
        """The events at positions ``rows``, in that order."""
        return EventColumns(**{f: _picked(getattr(self, f), rows) for f in _FIELDS})


def _joined(values: list[Any]) -> Any:
    if isinstance(values[0], np.ndarray):
        return np.concatenate(values)
    return [v for part in values for v in part]


def _picked(value: Any, rows: np.ndarray) -> Any:
    if isinstance(value, np.ndarray):
        return value[rows]
    return [value[k] for k in rows.tolist()]


_FIELDS = tuple(EventColumns.__dataclass_fields__)


@dataclass(frozen=True)
class FoldedPairs:
    """One row per distinct (left, right) code pair: weight at its own anchor ``last_ms``."""

    left: np.ndarray
    right: np.ndarray
    weight: np.ndarray
    count: np.ndarray
    type_counts: np.ndarray  # (pairs, len(EVENT_TYPES))
    first_ms: np.ndarray
    last_ms: np.ndarray


def fold_pairs(
    left: np.ndarray,
    right: np.ndarray,
    events: EventColumns,
    config: FoldConfig,
    selected: np.ndarray | None = None,
) -> FoldedPairs:
    """Fold events (those ``selected``, or all) into one weighted row per (left, right) pair.

    Args:
        left: Per-event code of the edge's start (a user).
        right: Per-event code of the edge's end (an item, a category, a brand), non-negative.
        events: The columns the codes index.
        config: Type weights and half-life (``events.contribution`` already applied them).
        selected: Boolean mask of the events that have an edge at all.
    """
    ts, contribution, types = events.ts_ms, events.contribution, events.type_code
    if selected is not None:
        left, right = left[selected], right[selected]
        ts, contribution, types = ts[selected], contribution[selected], types[selected]
    width = int(right.max()) + 1 if len(right) else 1
    keys, group = np.unique(left * width + right, return_inverse=True)
    pairs = len(keys)
    last = np.full(pairs, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, group, ts)
    first = np.full(pairs, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, group, ts)
    decay = np.exp2(-(last[group] - ts) / config.half_life_ms)
    kinds = len(EVENT_TYPES)
    type_counts = np.bincount(group * kinds + types, minlength=pairs * kinds).reshape(pairs, kinds)
    return FoldedPairs(
        left=keys // width,
        right=keys % width,
        weight=np.bincount(group, weights=contribution * decay, minlength=pairs),
        count=type_counts.sum(axis=1),
        type_counts=type_counts,
        first_ms=first,
        last_ms=last,
    )
