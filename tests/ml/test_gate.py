"""The promotion gate: decisions, and scoring a model whose item table is ordered differently."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.data import InteractionGraph, holdout_split
from ml.gate import Holdout, decide, holdout_score
from ml.models.graph import GraphOperators
from ml.popularity import item_log_degree
from ml.train import TrainConfig, build_model

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("challenger", "champion", "serving", "force", "promoted", "words"),
    [
        (0.10, 0.30, "v1", False, False, "0.1000 < active v1 0.3000"),
        (0.30, 0.30, "v1", False, True, "not worse"),
        (0.31, 0.30, "v1", False, True, "not worse"),
        (0.10, 0.30, "v1", True, True, "forced"),
        (0.10, None, None, False, True, "no active version"),
        (0.10, None, "v1", False, True, "cannot be scored"),
        (None, 0.30, "v1", False, False, "has no recall@20"),
    ],
)
def test_decisions(
    challenger: float | None,
    champion: float | None,
    serving: str | None,
    force: bool,
    promoted: bool,
    words: str,
) -> None:
    decision = decide(challenger, champion, "recall@20", serving=serving, force=force)
    assert decision.promoted is promoted and words in decision.reason
    assert (decision.challenger, decision.champion) == (challenger, champion)


def test_tolerance_allows_a_small_drop() -> None:
    assert decide(0.299, 0.30, "recall@20", serving="v1", tolerance=0.005).promoted
    assert not decide(0.29, 0.30, "recall@20", serving="v1", tolerance=0.005).promoted


def _random_graph(seed: int, n_users: int = 30, n_items: int = 25) -> InteractionGraph:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), 5)
    items = rng.integers(0, n_items, len(users))
    return InteractionGraph(
        n_users, n_items, users, items, np.ones(len(users), np.float32),
        ts=rng.integers(0, 10_000, len(users)),
    )  # fmt: skip


@pytest.mark.parametrize("prior", [False, True])
def test_a_model_scores_the_same_whatever_its_item_order(prior: bool) -> None:
    """The gate lines a stored model's item table up with today's items: scoring it through
    a permuted table and ``item_order`` equals scoring it in the holdout's own order."""
    graph = _random_graph(seed=4)
    split = holdout_split(graph, seed=0)
    train = split.train
    holdout = Holdout(split.targets, train.user_items(), item_log_degree(train))
    config = TrainConfig(model="inductive", dim=8, popularity_prior=prior, eval_k=(5, 20),
                         monitor="recall@5")  # fmt: skip
    torch.manual_seed(0)
    model = build_model(config, graph.n_users, graph.n_items, 0, CPU)
    direct = holdout_score(model, GraphOperators.build(train, CPU), holdout, config)
    # The same weights with the item table stored in another order.
    perm = np.random.default_rng(1).permutation(graph.n_items)  # holdout item k -> row perm[k]
    permuted = build_model(config, graph.n_users, graph.n_items, 0, CPU)
    permuted.load_state_dict(model.state_dict())
    assert permuted.item_id is not None and model.item_id is not None
    with torch.no_grad():
        permuted.item_id.weight[torch.from_numpy(perm)] = model.item_id.weight
    reordered = InteractionGraph(
        train.n_users, train.n_items, train.user_index, perm[train.item_index], train.weight,
        ts=train.ts,
    )  # fmt: skip
    ops = GraphOperators.build(reordered, CPU)
    assert holdout_score(permuted, ops, holdout, config, item_order=perm) == pytest.approx(direct)
    # Without the order the same weights score something else: the test can fail.
    shuffled = holdout_score(permuted, ops, holdout, config)
    assert direct > 0.0 and shuffled != pytest.approx(direct)
