"""The training edges of a graph as the training loop draws them: by edge or by user."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.data import InteractionGraph
from ml.losses import seen_keys


@dataclass
class TrainingEdges:
    """Training edges on the host plus everything needed to draw batches and negatives."""

    users: np.ndarray
    items: np.ndarray
    weights: np.ndarray
    seen_keys: np.ndarray
    n_users: int
    n_items: int
    user_ptr: np.ndarray  # edges sorted by user: user u owns by_user[user_ptr[u]:user_ptr[u+1]]
    by_user: np.ndarray

    @classmethod
    def from_graph(cls, graph: InteractionGraph) -> TrainingEdges:
        """Host-side training edges of ``graph`` with weights rescaled to mean 1."""
        by_user = np.argsort(graph.user_index, kind="stable")
        user_ptr = np.zeros(graph.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(graph.user_index, minlength=graph.n_users), out=user_ptr[1:])
        return cls(
            users=graph.user_index,
            items=graph.item_index,
            weights=graph.weight / max(float(graph.weight.mean()), 1e-12),
            seen_keys=seen_keys(graph.user_items()),
            n_users=graph.n_users,
            n_items=graph.n_items,
            user_ptr=user_ptr,
            by_user=by_user,
        )
