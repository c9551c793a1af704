"""The within-category order of a new version, chosen on its own training holdout
(``ml.category_order``): the graph's leaves meet the model's vectors here."""

from __future__ import annotations

import numpy as np
import torch

from graphdb.snapshot import GraphSnapshot
from ml.category_order import CategoryOrder, OrderInputs, choose_category_order
from ml.data import CSRMatrix
from ml.popularity import item_log_degree
from ml.train import TrainResult, embed_all


def leaf_matrix(item_leaves: list[list[str]]) -> CSRMatrix:
    """item -> leaf code, the codes numbering the distinct leaf ids in sorted order."""
    codes = {leaf: k for k, leaf in enumerate(sorted({c for row in item_leaves for c in row}))}
    rows = np.repeat(np.arange(len(item_leaves)), [len(row) for row in item_leaves])
    cols = np.asarray([codes[c] for row in item_leaves for c in row], dtype=np.int64)
    return CSRMatrix.from_pairs(rows.astype(np.int64), cols, len(item_leaves), len(codes))


def choose_order(
    result: TrainResult, snapshot: GraphSnapshot, half_life_ms: float
) -> CategoryOrder:
    """The order the holdout prefers, or the plain own-items order for a shop without
    categories (nothing to choose)."""
    leaves, train, targets = snapshot.item_leaves, result.train_graph, result.targets
    if not leaves or not any(leaves) or train is None or targets is None or targets.nnz == 0:
        return CategoryOrder()
    with torch.no_grad():
        users, items = embed_all(result.model, result.ops)
    log_degree = item_log_degree(train)
    inputs = OrderInputs(
        user_vec=users.cpu().numpy(), item_vec=items.cpu().numpy(),
        prior=result.prior_weight * log_degree, log_degree=log_degree,
        leaves=leaf_matrix(leaves), half_life_ms=half_life_ms,
    )  # fmt: skip
    return choose_category_order(inputs, train, targets)
