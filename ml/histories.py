"""Per-user item histories (oldest first) for the short-term model, as a CSR of item ids.

Each user's history is the list of their distinct items ordered by the latest interaction,
oldest first: production keeps one user-item edge per pair with its last timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.data import CSRMatrix, InteractionGraph
from ml.models.graph import concat_ranges


@dataclass(frozen=True)
class ItemSequences:
    """Per-user item histories in time order (a CSR whose rows are *not* sorted by item).

    Attributes:
        indptr: int64[n_users + 1]; user ``u`` owns ``items[indptr[u]:indptr[u + 1]]``.
        items: int64 item indices, each user's oldest first.
        n_items: Size of the item catalogue.
    """

    indptr: np.ndarray
    items: np.ndarray
    n_items: int

    @property
    def n_users(self) -> int:
        """Number of users (rows)."""
        return len(self.indptr) - 1

    def lengths(self) -> np.ndarray:
        """History length of every user, int64[n_users]."""
        return np.diff(self.indptr)

    def row(self, user: int) -> np.ndarray:
        """Items of ``user``, oldest first."""
        return self.items[self.indptr[user] : self.indptr[user + 1]]

    def item_sets(self) -> CSRMatrix:
        """The user -> items CSR (sorted, deduplicated), e.g. to mask seen items."""
        users = np.repeat(np.arange(self.n_users, dtype=np.int64), self.lengths())
        return CSRMatrix.from_pairs(users, self.items, self.n_users, self.n_items)

    def padded_rows(self, users: np.ndarray, width: int) -> np.ndarray:
        """Left-padded model input of ``users``: their last items as rows (item ``k`` = ``k+1``).

        Args:
            users: User ids.
            width: Keep at most this many of each user's newest items.

        Returns:
            int64 ``[len(users), w]`` with ``w = min(width, longest kept history)`` (at least 1),
            zeros on the left, each user's newest item in the last column.
        """
        ends = self.indptr[users + 1]
        kept = np.minimum(ends - self.indptr[users], width)
        w = max(int(kept.max(initial=0)), 1)
        out = np.zeros((len(users), w), dtype=np.int64)
        rows = np.repeat(np.arange(len(users)), kept)
        ends_rep = np.repeat(np.cumsum(kept), kept)
        cols = w - (ends_rep - np.arange(int(kept.sum())))
        out[rows, cols] = self.items[concat_ranges(ends - kept, ends)] + 1
        return out


def user_sequences(graph: InteractionGraph) -> ItemSequences:
    """Each user's distinct items ordered by their latest interaction, oldest first.

    Ties on the timestamp (and graphs without ``ts``) fall back to edge order.
    """
    ts = graph.ts if graph.ts is not None else np.zeros(graph.n_edges, dtype=np.int64)
    # Latest edge per (user, item): sort by (user, item, ts, position) and keep each pair's last.
    order = np.lexsort((np.arange(graph.n_edges), ts, graph.item_index, graph.user_index))
    pair = graph.user_index[order] * np.int64(graph.n_items) + graph.item_index[order]
    last = order[np.append(pair[1:] != pair[:-1], True)]
    last = last[np.lexsort((last, ts[last], graph.user_index[last]))]
    indptr = np.zeros(graph.n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(graph.user_index[last], minlength=graph.n_users), out=indptr[1:])
    return ItemSequences(indptr=indptr, items=graph.item_index[last], n_items=graph.n_items)


def split_last_items(
    sequences: ItemSequences, max_users: int | None, seed: int
) -> tuple[ItemSequences, CSRMatrix]:
    """Holds out the newest item of users with at least 3 items (2 stay for training).

    Args:
        sequences: Full histories.
        max_users: Hold out for at most this many random eligible users (``None`` = all).
        seed: Seed of the user sample.

    Returns:
        The shortened histories and the held-out ``user -> item`` targets.
    """
    lengths = sequences.lengths()
    users = np.flatnonzero(lengths >= 3)
    if max_users is not None and max_users < len(users):
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    held = np.zeros(sequences.n_users, dtype=bool)
    held[users] = True
    keep = np.ones(len(sequences.items), dtype=bool)
    keep[sequences.indptr[users + 1] - 1] = False
    indptr = np.zeros_like(sequences.indptr)
    np.cumsum(lengths - held, out=indptr[1:])
    newest = sequences.items[sequences.indptr[users + 1] - 1]
    targets = CSRMatrix.from_pairs(users, newest, sequences.n_users, sequences.n_items)
    return ItemSequences(indptr, sequences.items[keep], sequences.n_items), targets
