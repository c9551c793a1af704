"""The long-term + short-term blend of one user's scores in a single matrix-vector product.

:func:`ml.shortterm.blend_scores` z-scores each part over every item and mixes the two, which
at serving time means two full score vectors, two passes for their statistics and a third to
combine them. Both parts are linear in a per-user query: long-term scores are ``U @ u`` (item
vectors times the user's vector) and short-term scores ``A @ h`` (the sequence model's item
table times its readout of the user's history). The mean of a linear score over the items is
the table's column mean times the query, and its variance is the query's quadratic form with
the table's column covariance. With those precomputed once per table, each user's shifts and
scales cost ``O(dim²)``, and the blend is one product of the side-by-side table ``[U | A]``
with the stacked, scaled query. numpy only: the API process never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.shortterm import MIN_STD


@dataclass(frozen=True)
class ColumnMoments:
    """Column mean and (population) covariance of one score table, in float64."""

    mean: np.ndarray
    covariance: np.ndarray

    @classmethod
    def of(cls, table: np.ndarray, chunk_rows: int = 8192) -> ColumnMoments:
        """Moments of ``table``'s rows, centred before the product so nothing cancels.

        Rows go through float64 a chunk at a time: an API worker builds this once per model
        version, and a float64 copy of a whole catalogue would stay in its resident memory.
        """
        n, dim = table.shape
        mean = np.zeros(dim)
        for start in range(0, n, chunk_rows):
            mean += table[start : start + chunk_rows].sum(axis=0, dtype=np.float64)
        mean /= max(n, 1)
        covariance = np.zeros((dim, dim))
        for start in range(0, n, chunk_rows):
            centred = table[start : start + chunk_rows].astype(np.float64) - mean
            covariance += centred.T @ centred
        return cls(mean, covariance / max(n, 1))

    def mean_and_std(self, query: np.ndarray) -> tuple[float, float]:
        """Mean and standard deviation over the rows of ``table @ query``."""
        query = np.asarray(query, dtype=np.float64)
        variance = float(query @ self.covariance @ query)
        return float(self.mean @ query), float(np.sqrt(max(variance, 0.0)))


@dataclass(frozen=True)
class StackedScoreTables:
    """Long-term and short-term item tables side by side, with their column moments.

    Attributes:
        stacked: ``float32[n_items, long_dim + short_dim]`` (column-major): ``[U | A]``, row
            ``k`` is item ``k``.
        long_moments: Column moments of ``U``.
        short_moments: Column moments of ``A``.
    """

    stacked: np.ndarray
    long_moments: ColumnMoments
    short_moments: ColumnMoments

    @classmethod
    def build(cls, long_table: np.ndarray, short_table: np.ndarray) -> StackedScoreTables:
        """Tables for items scored by ``long_table @ u`` and ``short_table @ h``.

        Args:
            long_table: ``[n_items, long_dim]`` (the item vectors the user vector is scored on).
            short_table: ``[n_items, short_dim]`` (the sequence model's rows, same item order).
        """
        if len(long_table) != len(short_table):
            raise ValueError("long and short tables must hold the same items")
        # Column-major: numpy hands a column-major matrix-vector product to BLAS as a sum of
        # scaled columns, which for short rows runs 2-3x faster than a dot product per row.
        long_dim = int(long_table.shape[1])
        stacked = np.empty((len(long_table), long_dim + short_table.shape[1]), np.float32, "F")
        stacked[:, :long_dim] = long_table
        stacked[:, long_dim:] = short_table
        return cls(
            stacked=stacked,
            long_moments=ColumnMoments.of(long_table),
            short_moments=ColumnMoments.of(short_table),
        )

    def blended(self, user: np.ndarray, readout: np.ndarray, weight: float) -> np.ndarray:
        """``(1 - weight) * z(U @ user) + weight * z(A @ readout)`` over all items.

        Equal (up to float32 rounding) to :func:`ml.shortterm.blend_scores` of the two full
        score vectors, including its rule that a constant part contributes zeros.

        Returns:
            ``float32[n_items]`` blended scores.
        """
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must be in [0, 1], got {weight}")
        long_scale, long_shift = _z_coefficients(self.long_moments, user, 1.0 - weight)
        short_scale, short_shift = _z_coefficients(self.short_moments, readout, weight)
        long_part = np.asarray(user, np.float64) * long_scale
        query = np.concatenate([long_part, np.asarray(readout, np.float64) * short_scale])
        scores = self.stacked @ query.astype(np.float32)
        scores -= np.float32(long_shift + short_shift)
        return scores


def _z_coefficients(moments: ColumnMoments, query: np.ndarray, share: float) -> tuple[float, float]:
    """``(a, b)`` with ``share * z(table @ query) == a * (table @ query) - b``."""
    mean, std = moments.mean_and_std(query)
    if std <= MIN_STD or share == 0.0:
        return 0.0, 0.0
    return share / std, share * mean / std
