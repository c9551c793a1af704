"""The popularity prior: degrees, the weight chosen on a holdout, and its place in training."""

from __future__ import annotations

import numpy as np
import torch

from ml.data import CSRMatrix, InteractionGraph
from ml.popularity import choose_prior_weight, item_log_degree
from ml.train import TrainConfig, train

CPU = torch.device("cpu")


def test_log_degree_counts_users_per_item() -> None:
    graph = InteractionGraph(
        n_users=3, n_items=4, user_index=np.array([0, 1, 2, 0]),
        item_index=np.array([0, 0, 0, 2]), weight=np.ones(4, dtype=np.float32),
    )  # fmt: skip
    np.testing.assert_allclose(item_log_degree(graph), np.log1p([3, 0, 1, 0]), rtol=1e-6)


def _uninformative_vectors(n_users: int, n_items: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    users = torch.from_numpy(rng.normal(size=(n_users, 64)).astype(np.float32))
    items = torch.from_numpy(rng.normal(size=(n_items, 64)).astype(np.float32))
    return users / users.norm(dim=1, keepdim=True), items / items.norm(dim=1, keepdim=True)


def test_a_prior_is_chosen_when_held_out_items_are_the_popular_ones() -> None:
    n_users, n_items = 200, 100
    users, items = _uninformative_vectors(n_users, n_items)
    degree = np.round(5000 / np.arange(1, n_items + 1) ** 1.5)  # item 0 the most popular
    rng = np.random.default_rng(1)
    held = rng.choice(n_items, size=n_users, p=degree / degree.sum())
    targets = CSRMatrix.from_pairs(np.arange(n_users), held, n_users, n_items)
    exclude = CSRMatrix.from_pairs(np.array([], dtype=np.int64), np.array([], dtype=np.int64),
                                   n_users, n_items)  # fmt: skip

    weight, metrics = choose_prior_weight(
        users, items, np.log1p(degree).astype(np.float32), targets, exclude, (20,), "recall@20"
    )
    _, cosine_only = choose_prior_weight(
        users, items, np.log1p(degree).astype(np.float32), targets, exclude, (20,), "recall@20",
        weights=(0.0,),
    )  # fmt: skip

    assert weight > 0
    assert metrics["recall@20"] > cosine_only["recall@20"] + 0.1


def test_a_prior_that_changes_no_ranking_stays_off() -> None:
    users, items = _uninformative_vectors(50, 30)
    targets = CSRMatrix.from_pairs(np.arange(50), np.arange(50) % 30, 50, 30)
    flat = np.full(30, np.log1p(5.0), dtype=np.float32)  # every item equally popular

    weight, _ = choose_prior_weight(users, items, flat, targets, None, (20,), "recall@20")

    assert weight == 0.0


def test_training_reports_the_chosen_weight_with_its_metrics(planted) -> None:
    graph, _, _ = planted
    fast = dict(dim=16, user_batch_size=32, lr=0.05, validation_users=None, epochs=2)
    result = train(graph, TrainConfig(**fast), CPU)
    assert result.best_metrics["prior_weight"] == result.prior_weight >= 0.0
    assert "recall@20_without_prior" in result.best_metrics
    assert result.best_metrics["recall@20"] >= result.best_metrics["recall@20_without_prior"]

    off = train(graph, TrainConfig(popularity_prior=False, **fast), CPU)
    assert off.prior_weight == 0.0 and "prior_weight" not in off.best_metrics
