"""The decay fold is exact and independent of arrival order (pure Python, no server)."""

from __future__ import annotations

import math
import random

import pytest

from graphdb.fold import EventRow, FoldConfig, fold_interactions, fold_interests, merge_weight

DAY = 86_400_000


def _direct_weight(events: list[EventRow], config: FoldConfig, at_ms: int) -> float:
    return sum(config.contribution(e.type, e.value) * config.decay(at_ms - e.ts_ms) for e in events)


def _fold_in_batches(
    events: list[EventRow], config: FoldConfig, cuts: list[int]
) -> tuple[float, int]:
    weight, anchor = 0.0, min(e.ts_ms for e in events)
    bounds = [0, *cuts, len(events)]
    for start, end in zip(bounds, bounds[1:], strict=False):
        if start == end:
            continue
        row = fold_interactions(events[start:end], config)[0]
        weight, anchor = merge_weight(
            weight, anchor, float(row["weight"]), int(row["last_ms"]), config
        )
    return weight, anchor


def test_contribution_scales_ratings_around_neutral() -> None:
    config = FoldConfig()
    assert config.contribution("rating", 5) == pytest.approx(6.0)
    assert config.contribution("rating", 1) == pytest.approx(-6.0)
    assert config.contribution("review", 3) == 0.0
    assert config.contribution("review", None) == 6.0
    assert config.contribution("purchase", None) == 8.0


def test_half_life_halves_the_weight() -> None:
    config = FoldConfig(half_life_days=10)
    events = [EventRow("a", "u", "i", "view", 0), EventRow("b", "u", "i", "view", 10 * DAY)]
    row = fold_interactions(events, config)[0]
    assert row["weight"] == pytest.approx(1.5)
    assert row["last_ms"] == 10 * DAY and row["first_ms"] == 0 and row["count_view"] == 2


@pytest.mark.parametrize("seed", range(5))
def test_any_arrival_order_and_batching_gives_the_same_weight(seed: int) -> None:
    rng = random.Random(seed)
    config = FoldConfig(half_life_days=7)
    types = ["view", "click", "cart", "purchase", "rating"]
    events = [
        EventRow(f"e{k}", "u", "i", t, rng.randrange(0, 60 * DAY), 4.0 if t == "rating" else None)
        for k in range(40)
        for t in [rng.choice(types)]
    ]
    newest = max(e.ts_ms for e in events)
    expected = _direct_weight(events, config, newest)
    for _ in range(5):
        shuffled = events[:]
        rng.shuffle(shuffled)
        cuts = sorted(rng.sample(range(1, len(events)), 4))
        weight, anchor = _fold_in_batches(shuffled, config, cuts)
        assert anchor == newest
        assert math.isclose(weight, expected, rel_tol=1e-12)


def test_interest_rows_group_by_user_and_target() -> None:
    config = FoldConfig()
    events = [
        EventRow("a", "u1", "i1", "view", 0),
        EventRow("b", "u1", "i2", "view", 0),
        EventRow("c", "u2", "i1", "purchase", 0),
    ]
    rows = fold_interests(events, {"i1": ["shoes"], "i2": ["shoes", "socks"]}, config)
    by_key = {(r["user_id"], r["target_id"]): r for r in rows}
    assert by_key[("u1", "shoes")]["weight"] == 2.0 and by_key[("u1", "shoes")]["count"] == 2
    assert by_key[("u1", "socks")]["weight"] == 1.0
    assert by_key[("u2", "shoes")]["weight"] == 8.0


def test_config_rejects_missing_types_and_bad_half_life() -> None:
    with pytest.raises(ValueError, match="lacks"):
        FoldConfig(type_weights={"view": 1.0})
    with pytest.raises(ValueError, match="half_life"):
        FoldConfig(half_life_days=0)


def test_snapshot_decay_uses_the_data_clock_and_never_vanishes() -> None:
    import numpy as np

    from graphdb.snapshot import MIN_DECAY, decay_to_common_clock

    old = 1_288_483_200_000  # 2010-10-31: a finished history, years before the wall clock
    weights = np.array([8.0, 8.0, 1.0, 2.0])
    last = np.array([old, old - 30 * DAY, old, old - 20 * 365 * DAY])
    out = decay_to_common_clock(weights, last, 30 * DAY)
    assert out.dtype == np.float32 and np.all(out > 0)
    assert out[0] == 8.0 and out[1] == pytest.approx(4.0) and out[2] == 1.0
    assert out[3] == pytest.approx(2.0 * MIN_DECAY)
