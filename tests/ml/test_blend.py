"""The one-product blend equals z-scoring both full score vectors and mixing them."""

from __future__ import annotations

import numpy as np
import pytest

from ml.blend import ColumnMoments, StackedScoreTables
from ml.shortterm import blend_scores


def _tables(seed: int, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    long_table = rng.normal(size=(n, 16)).astype(np.float32)
    long_table /= np.linalg.norm(long_table, axis=1, keepdims=True)
    # Short-term logits: a large common offset and uneven column scales, where a naive
    # E[x²] - E[x]² variance would lose digits.
    short_table = (rng.normal(size=(n, 12)) * np.linspace(0.1, 5, 12) + 40).astype(np.float32)
    return long_table, short_table


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 1.0])
def test_blended_equals_blend_of_full_score_vectors(weight: float) -> None:
    long_table, short_table = _tables(1)
    rng = np.random.default_rng(2)
    user, readout = rng.normal(size=16).astype(np.float32), rng.normal(size=12)
    expected = blend_scores(long_table @ user, short_table @ readout.astype(np.float32), weight)
    got = StackedScoreTables.build(long_table, short_table).blended(user, readout, weight)
    assert got.dtype == np.float32 and got.shape == (500,)
    np.testing.assert_allclose(got, expected, atol=2e-4)
    assert list(np.argsort(-got)[:20]) == list(np.argsort(-expected)[:20])


def test_constant_part_counts_as_no_opinion() -> None:
    long_table, short_table = _tables(3)
    short_table[:] = short_table[0]  # every item scores the same short-term
    user, readout = np.ones(16, np.float32), np.ones(12)
    got = StackedScoreTables.build(long_table, short_table).blended(user, readout, 0.5)
    long_z = blend_scores(long_table @ user, np.zeros(500, np.float32), 0.0)
    np.testing.assert_allclose(got, 0.5 * long_z, atol=1e-4)


@pytest.mark.parametrize("chunk_rows", [7, 8192])
def test_moments_give_mean_and_std_of_any_linear_score(chunk_rows: int) -> None:
    _, short_table = _tables(4)
    query = np.random.default_rng(5).normal(size=12)
    scores = short_table.astype(np.float64) @ query
    mean, std = ColumnMoments.of(short_table, chunk_rows).mean_and_std(query)
    assert mean == pytest.approx(scores.mean(), rel=1e-9)
    assert std == pytest.approx(scores.std(), rel=1e-9)


def test_tables_must_hold_the_same_items() -> None:
    long_table, short_table = _tables(6)
    with pytest.raises(ValueError, match="same items"):
        StackedScoreTables.build(long_table, short_table[:-1])
