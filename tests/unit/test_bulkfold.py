"""The offline load's vectorised fold equals the online, event-by-event fold."""

from __future__ import annotations

import random

import numpy as np
import pytest

from graphdb.bulkfold import EventColumns, factorize, fold_pairs
from graphdb.fold import EVENT_TYPES, EventRow, FoldConfig, fold_interactions, fold_interests

DAY_MS = 86_400_000


def _events(n: int, seed: int) -> list[EventRow]:
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        kind = rng.choice(EVENT_TYPES)
        value = float(rng.randint(1, 5)) if kind == "rating" or rng.random() < 0.3 else None
        if kind not in ("rating", "review"):
            value = None
        sentiment = rng.uniform(-1, 1) if kind == "review" else None
        rows.append(EventRow(
            event_id=f"e{k}", user_id=f"u{rng.randrange(6)}", item_id=f"i{rng.randrange(9)}",
            type=kind, ts_ms=1_700_000_000_000 + rng.randrange(120) * DAY_MS // 3,
            value=value, text="ok" if sentiment is not None else None, sentiment=sentiment,
        ))  # fmt: skip
    return rows


def test_interaction_fold_matches_the_online_fold() -> None:
    rows, config = _events(400, seed=3), FoldConfig(half_life_days=7.0)
    events = EventColumns.from_rows(rows, config)
    users, user_ids = factorize(events.user_id)
    items, item_ids = factorize(events.item_id)
    folded = fold_pairs(users, items, events, config)
    expected = {(r["user_id"], r["item_id"]): r for r in fold_interactions(rows, config)}
    assert len(folded.weight) == len(expected)
    for k in range(len(folded.weight)):
        row = expected[(user_ids[folded.left[k]], item_ids[folded.right[k]])]
        assert folded.weight[k] == pytest.approx(row["weight"], rel=1e-12, abs=1e-12)
        assert folded.count[k] == row["count"]
        assert folded.first_ms[k] == row["first_ms"] and folded.last_ms[k] == row["last_ms"]
        counts = {t: int(folded.type_counts[k, j]) for j, t in enumerate(EVENT_TYPES)}
        assert counts == {t: row[f"count_{t}"] for t in EVENT_TYPES}


def test_interest_fold_skips_items_without_a_target() -> None:
    rows, config = _events(300, seed=5), FoldConfig()
    targets_by_item = {"i0": ["c0"], "i1": ["c0"], "i2": ["c1"], "i5": ["c2"]}  # others: none
    events = EventColumns.from_rows(rows, config)
    users, user_ids = factorize(events.user_id)
    target_ids = ["c0", "c1", "c2"]
    code = {t: k for k, t in enumerate(target_ids)}
    targets = np.array([code[targets_by_item[i][0]] if i in targets_by_item else -1
                        for i in events.item_id])  # fmt: skip
    folded = fold_pairs(users, targets, events, config, selected=targets >= 0)
    expected = {(r["user_id"], r["target_id"]): r for r in fold_interests(rows, targets_by_item,
                                                                          config)}  # fmt: skip
    got = {(user_ids[u], target_ids[t]): (w, c) for u, t, w, c in
           zip(folded.left, folded.right, folded.weight, folded.count, strict=True)}  # fmt: skip
    assert got.keys() == expected.keys()
    for key, (weight, count) in got.items():
        assert weight == pytest.approx(expected[key]["weight"], rel=1e-12, abs=1e-12)
        assert count == expected[key]["count"]


def test_a_review_without_stars_counts_by_its_sentiment() -> None:
    config = FoldConfig()
    row = EventRow("e", "u", "i", "review", 0, value=None, text="awful", sentiment=-0.5)
    events = EventColumns.from_rows([row], config)
    assert events.contribution[0] == pytest.approx(-0.5 * config.type_weights["review"])
    assert np.isnan(events.value[0]) and events.sentiment[0] == -0.5


def test_take_and_concat_keep_every_column_aligned() -> None:
    events = EventColumns.from_rows(_events(10, seed=1), FoldConfig())
    picked = events.take(np.array([7, 2]))
    assert picked.event_id == ["e7", "e2"]
    assert picked.ts_ms.tolist() == [events.ts_ms[7], events.ts_ms[2]]
    joined = EventColumns.concat([picked, events.take(np.array([0]))])
    assert joined.event_id == ["e7", "e2", "e0"] and len(joined.contribution) == 3
    assert len(EventColumns.concat([])) == 0


def test_factorize_numbers_values_in_first_seen_order() -> None:
    codes, values = factorize(["b", "a", "b", "c"])
    assert codes.tolist() == [0, 1, 0, 2] and values == ["b", "a", "c"]
