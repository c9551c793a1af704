"""Cold-start evaluation: hold out every interaction of some items, then rank them anyway.

An item nobody has touched can only be placed by its content (categories, brand, text). To
measure that, a sample of items loses *all* its interactions; the model trains on the rest of
the catalogue, where those items do not exist (no ID row, exactly like an item created after
training), and is then asked to embed the whole catalogue with the cold items appended, from
their content alone. Each user who had interacted with a cold item is scored over every item
(their training items masked), and Recall@K counts how many of their cold items make the top K.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ml.data import CSRMatrix, InteractionGraph
from ml.embed import full_embeddings
from ml.evaluate import evaluate_ranking
from ml.models.graph import GraphOperators, concat_ranges
from ml.train import EmbeddingModel


@dataclass(frozen=True)
class ColdItemSplit:
    """A catalogue renumbered warm items first, cold items last.

    Attributes:
        train: Warm items only (ids ``0..n_warm-1``) with all their edges; no cold item exists.
        serve: The whole catalogue with the same edges: cold items appended, without edges.
        targets: ``user -> cold items`` (serve numbering): the held-out interactions.
        item_order: Original item id of every serve position.
        n_warm: Number of warm items.
    """

    train: InteractionGraph
    serve: InteractionGraph
    targets: CSRMatrix
    item_order: np.ndarray
    n_warm: int


def _renumbered(
    graph: InteractionGraph, order: np.ndarray, position: np.ndarray, keep: np.ndarray
) -> InteractionGraph:
    """``graph`` with item ``order[k]`` at ``position[order[k]] == k``, keeping only the edges
    in ``keep``."""
    ptr = index = None
    features = graph.item_features()
    if features is not None:
        starts, ends = features.indptr[order], features.indptr[order + 1]
        ptr = np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64)
        index = features.indices[concat_ranges(starts, ends)]
    return InteractionGraph(
        n_users=graph.n_users, n_items=graph.n_items,
        user_index=graph.user_index[keep], item_index=position[graph.item_index[keep]],
        weight=graph.weight[keep], ts=None if graph.ts is None else graph.ts[keep],
        user_ids=graph.user_ids, item_ids=[graph.item_ids[i] for i in order],
        item_feature_ptr=ptr, item_feature_index=index, n_features=graph.n_features,
        item_text=None if graph.item_text is None else graph.item_text[order],
    )  # fmt: skip


def _warm_prefix(serve: InteractionGraph, n_warm: int) -> InteractionGraph:
    """The first ``n_warm`` items of ``serve`` (which must own every edge)."""
    features = serve.item_features()
    ptr = None if features is None else features.indptr[: n_warm + 1]
    index = None if features is None or ptr is None else features.indices[: ptr[-1]]
    return InteractionGraph(
        n_users=serve.n_users, n_items=n_warm,
        user_index=serve.user_index, item_index=serve.item_index, weight=serve.weight,
        ts=serve.ts, user_ids=serve.user_ids, item_ids=serve.item_ids[:n_warm],
        item_feature_ptr=ptr, item_feature_index=index, n_features=serve.n_features,
        item_text=None if serve.item_text is None else serve.item_text[:n_warm],
    )  # fmt: skip


def split_cold_items(graph: InteractionGraph, fraction: float, seed: int = 0) -> ColdItemSplit:
    """Holds out every interaction of a random ``fraction`` of the interacted items.

    Args:
        graph: The full graph (items without interactions stay warm: there is nothing of
            theirs to hold out).
        fraction: Share of the interacted items made cold.
        seed: Seed of the item sample.

    Returns:
        The split; users keep their other interactions for training.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError("fraction must be in (0, 1)")
    interacted = np.unique(graph.item_index)
    rng = np.random.default_rng(seed)
    n_cold = max(1, int(round(fraction * len(interacted))))
    cold = np.zeros(graph.n_items, dtype=bool)
    cold[rng.choice(interacted, n_cold, replace=False)] = True
    order = np.concatenate([np.flatnonzero(~cold), np.flatnonzero(cold)])
    held = cold[graph.item_index]
    position = np.empty(graph.n_items, dtype=np.int64)
    position[order] = np.arange(graph.n_items)
    serve = _renumbered(graph, order, position, ~held)
    targets = CSRMatrix.from_pairs(
        graph.user_index[held], position[graph.item_index[held]], graph.n_users, graph.n_items
    )
    n_warm = graph.n_items - n_cold
    return ColdItemSplit(_warm_prefix(serve, n_warm), serve, targets, order, n_warm)


@torch.no_grad()
def cold_start_metrics(
    model: EmbeddingModel, split: ColdItemSplit, ks: Sequence[int], device: torch.device
) -> dict[str, float]:
    """Full-ranking metrics of the held-out cold items for a model trained on ``split.train``.

    The model embeds ``split.serve``: cold items have no ID row and no edges, so their
    vectors come from content alone, as a brand-new item's would.
    """
    ops = GraphOperators.build(split.serve, device)
    vectors = full_embeddings(model, ops)
    users, items = vectors[: ops.n_users], vectors[ops.n_users :]
    return evaluate_ranking(users, items, split.targets, split.serve.user_items(), ks=ks)
