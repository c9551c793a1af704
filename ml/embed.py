"""Embedding new or changed users/items with trained weights (no retraining).

Typical refresh after the graph changed (new user, new interactions, new item)::

    new_ops = GraphOperators.build(new_graph, device)
    users, items = affected_users_items([old_ops, new_ops], changed_users, changed_items,
                                        hops=model.num_layers + 1)
    user_vecs, item_vecs = embed_users_items(model, new_ops, users, items)

The result equals ``full_embeddings(model, new_ops)`` on those rows up to float rounding, and
every other node keeps its previous embedding.
"""

from __future__ import annotations

import numpy as np
import torch

from ml.models.graph import GraphOperators
from ml.train import EmbeddingModel, embed_all


def to_global(ops: GraphOperators, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Global node ids of ``ops`` (users first, then items) for local user and item ids."""
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    return np.concatenate([np.unique(users), np.unique(items) + ops.n_users])


def full_embeddings(model: EmbeddingModel, ops: GraphOperators) -> torch.Tensor:
    """Final embeddings of every node of ``ops`` (users then items), no gradient."""
    users, items = embed_all(model, ops)
    return torch.cat([users, items])


@torch.no_grad()
def embed_nodes(model: EmbeddingModel, ops: GraphOperators, nodes: np.ndarray) -> torch.Tensor:
    """Final embeddings of ``nodes`` (global ids; rows follow ``np.unique(nodes)``).

    Only the receptive field of ``nodes`` is computed, so refreshing a handful of nodes of a
    large graph is cheap. Works for unseen users/items with :class:`InductiveGCN`.
    """
    was_training = model.training
    model.eval()
    out = model.embed_nodes(ops, np.asarray(nodes, dtype=np.int64))
    model.train(was_training)
    return out


@torch.no_grad()
def embed_users_items(
    model: EmbeddingModel, ops: GraphOperators, users: np.ndarray, items: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Final embeddings of local ``users`` and ``items`` (rows follow ``np.unique`` of each)."""
    vectors = embed_nodes(model, ops, to_global(ops, users, items))
    n_users = len(np.unique(np.asarray(users)))
    return vectors[:n_users], vectors[n_users:]


def affected_users_items(
    ops_versions: list[GraphOperators], users: np.ndarray, items: np.ndarray, hops: int
) -> tuple[np.ndarray, np.ndarray]:
    """Users and items whose final embedding may differ after the given nodes changed.

    With symmetric normalisation a changed edge alters its endpoints' degrees, hence every
    propagated value within ``num_layers`` hops: pass ``hops = model.num_layers`` for edge
    changes. The inductive model derives user layer-0 from item layer-0, so a changed item
    *feature* reaches one hop further (``num_layers + 1``; always safe, slightly larger).
    Neighbourhoods are taken in every graph version, so removed edges count too.

    Args:
        ops_versions: Graph operators before and after the change (local user and item ids
            must mean the same node in every version; new nodes are appended).
        users: Local ids of users whose edges changed (both endpoints of a changed edge count).
        items: Local ids of items whose edges or features changed.
        hops: Neighbourhood radius.

    Returns:
        Sorted local ``(users, items)`` ids valid in the last version.
    """
    found_users = np.unique(np.asarray(users, dtype=np.int64))
    found_items = np.unique(np.asarray(items, dtype=np.int64))
    for ops in ops_versions:
        seeds = to_global(
            ops, found_users[found_users < ops.n_users], found_items[found_items < ops.n_items]
        )
        reached = seeds
        for _ in range(hops):
            reached = np.union1d(reached, ops.adjacency.neighbours(reached))
        found_users = np.union1d(found_users, reached[reached < ops.n_users])
        found_items = np.union1d(found_items, reached[reached >= ops.n_users] - ops.n_users)
    last = ops_versions[-1]
    return found_users[found_users < last.n_users], found_items[found_items < last.n_items]
