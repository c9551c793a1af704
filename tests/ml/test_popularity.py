"""The popularity prior: degrees, the weight chosen on a holdout, and its place in training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.data import CSRMatrix, InteractionGraph
from ml.losses import full_softmax_loss
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
    fast = dict(
        model="lightgcn", dim=16, user_batch_size=32, lr=0.05, validation_users=None, epochs=2
    )
    result = train(graph, TrainConfig(**fast), CPU)
    assert result.best_metrics["prior_weight"] == result.prior_weight >= 0.0
    assert "recall@20_without_prior" in result.best_metrics
    assert result.best_metrics["recall@20"] >= result.best_metrics["recall@20_without_prior"]

    off = train(graph, TrainConfig(popularity_prior=False, **fast), CPU)
    assert off.prior_weight == 0.0 and "prior_weight" not in off.best_metrics


def test_the_softmax_with_an_item_bias_is_the_cross_entropy_of_the_biased_logits() -> None:
    rng = np.random.default_rng(3)
    user = torch.from_numpy(rng.normal(size=(2, 4)).astype(np.float32))
    items = torch.from_numpy(rng.normal(size=(5, 4)).astype(np.float32))
    bias = torch.tensor([0.5, -1.0, 0.0, 2.0, 0.3])
    edge_row, edge_item = torch.tensor([0, 0, 1]), torch.tensor([1, 3, 4])

    loss = full_softmax_loss(user, items, edge_row, edge_item, torch.ones(3), 0.5, bias)

    logits = user @ items.T / 0.5 + bias
    expected = torch.nn.functional.cross_entropy(logits[edge_row], edge_item)
    torch.testing.assert_close(loss, expected)


def _popularity_only_graph(n_users: int = 150, n_items: int = 60) -> InteractionGraph:
    """Every user draws items by popularity alone (Zipf): there is no taste to learn."""
    rng = np.random.default_rng(5)
    p = 1.0 / np.arange(1, n_items + 1)
    users, items = [], []
    for user in range(n_users):
        users.append(np.full(6, user))
        items.append(rng.choice(n_items, 6, replace=False, p=p / p.sum()))
    return InteractionGraph(
        n_users=n_users, n_items=n_items, user_index=np.concatenate(users),
        item_index=np.concatenate(items), weight=np.ones(6 * n_users, dtype=np.float32),
    )  # fmt: skip


def test_a_learned_prior_takes_up_popularity_and_joins_the_choice() -> None:
    graph = _popularity_only_graph()
    fast = dict(
        model="lightgcn",
        dim=16,
        user_batch_size=32,
        lr=0.05,
        validation_users=None,
        epochs=4,
        patience=4,
    )
    result = train(graph, TrainConfig(learn_prior=True, **fast), CPU)

    learned = result.best_metrics["learned_prior_weight"]
    assert learned > 0.01  # the popular items are the held-out ones: the term must grow
    assert all(row["learned"] > 0 for row in result.history)
    assert result.prior_weight > 0
    assert result.best_metrics["recall@20"] > result.best_metrics["recall@20_without_prior"]


@pytest.mark.parametrize("change", [{"loss": "bpr"}, {"popularity_prior": False}])
def test_a_learned_prior_needs_the_full_softmax_and_a_served_prior(change) -> None:
    with pytest.raises(ValueError, match="learn_prior"):
        TrainConfig(learn_prior=True, **change)
