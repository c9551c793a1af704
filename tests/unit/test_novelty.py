"""The shop's rate of "somewhere new" fitted to how users spread over categories."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from app.serving.novelty import DEFAULT_FOCUS, fit_focus, fit_new_category_rate
from graphdb.category_spread import CategoryContinuity, CategorySpread


def _spread_drawn_with(alpha: float, users: int = 3000, seed: int = 0) -> CategorySpread:
    """Users whose each next item opens a new category with probability alpha/(t + alpha)."""
    rng = np.random.default_rng(seed)
    counts: Counter[tuple[int, int]] = Counter()
    for _ in range(users):
        n = int(rng.integers(2, 30))
        opened = sum(rng.random() < alpha / (t + alpha) for t in range(n))
        counts[(n, opened)] += 1
    return CategorySpread(tuple((n, d, c) for (n, d), c in sorted(counts.items())))


@pytest.mark.parametrize("alpha", [0.3, 2.0, 8.0])
def test_the_rate_the_users_were_drawn_with_is_recovered(alpha: float) -> None:
    assert fit_new_category_rate(_spread_drawn_with(alpha)) == pytest.approx(alpha, rel=0.1)


def test_users_who_keep_to_one_category_give_a_rate_near_zero() -> None:
    fitted = fit_new_category_rate(CategorySpread(((25, 1, 90), (3, 1, 10))))
    assert fitted is not None and fitted < 0.01


def test_no_users_with_two_items_give_no_rate() -> None:
    assert fit_new_category_rate(CategorySpread()) is None


def test_the_focus_follows_how_users_keep_to_a_category() -> None:
    assert fit_focus(CategoryContinuity()) is None
    assert fit_focus(CategoryContinuity(pairs=1000, stays=950)) == pytest.approx(
        (950 + 10 * DEFAULT_FOCUS) / 1010
    )
    assert fit_focus(CategoryContinuity(pairs=1000, stays=200)) < 0.25  # a wandering shop
    assert fit_focus(CategoryContinuity(pairs=1, stays=0)) > 0.7  # one pair says little
    assert fit_focus(CategoryContinuity(pairs=10**6, stays=10**6)) == 0.99
