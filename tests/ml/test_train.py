"""Training: loss falls, planted communities are recovered, runs are reproducible."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.data import CSRMatrix
from ml.embed import embed_users_items, full_embeddings
from ml.models import GraphOperators
from ml.train import TrainConfig, train

CPU = torch.device("cpu")
FAST = dict(
    dim=16, batch_size=256, user_batch_size=32, num_negatives=64, lr=0.05, validation_users=None
)
LIGHTGCN = dict(FAST, model="lightgcn")  # what these tests were written for


def _block_purity(scores: torch.Tensor, user_block: np.ndarray, item_block: np.ndarray) -> float:
    """Share of each user's top-10 items that lie in the user's own block."""
    top = torch.topk(scores, 10, dim=1).indices.numpy()
    return float((item_block[top] == user_block[:, None]).mean())


@pytest.mark.parametrize("model_kind", ["lightgcn", "inductive", "interest"])
@pytest.mark.parametrize("loss", ["full_softmax", "softmax", "bpr"])
def test_loss_falls_and_planted_blocks_are_recovered(planted, model_kind, loss):
    graph, user_block, item_block = planted
    config = TrainConfig(model=model_kind, loss=loss, epochs=8, patience=8, **FAST)
    result = train(graph, config, CPU)
    losses = [row["loss"] for row in result.history]
    assert losses[-1] < 0.9 * losses[0]
    embeddings = full_embeddings(result.model, result.ops)
    scores = embeddings[: graph.n_users] @ embeddings[graph.n_users :].T
    # chance is 1 / 4 blocks; the structure must be recovered far above it
    assert _block_purity(scores, user_block, item_block) > 0.9
    # each block has 20 items, each user 8 train edges, ~2 of them held out: recall@20 of the
    # held-out items by chance is ~20 / 80
    assert result.best_metrics["recall@20"] > 0.6
    assert result.seconds_per_epoch > 0 and len(result.history) >= 1


def test_training_is_reproducible(planted):
    graph, _, _ = planted
    config = TrainConfig(epochs=2, seed=7, **LIGHTGCN)
    first, second = train(graph, config, CPU), train(graph, config, CPU)
    assert [r["loss"] for r in first.history] == [r["loss"] for r in second.history]
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)
    other = train(graph, TrainConfig(epochs=2, seed=8, **LIGHTGCN), CPU)
    assert other.history[0]["loss"] != first.history[0]["loss"]


def test_early_stopping_and_time_budget(planted):
    graph, _, _ = planted
    frozen = train(graph, TrainConfig(epochs=10, patience=2, **{**LIGHTGCN, "lr": 0.0}), CPU)
    assert len(frozen.history) == 3  # best at epoch 1, then two validations without improvement
    assert frozen.best_epoch == 1
    budget = train(graph, TrainConfig(epochs=10, time_budget_s=0.0, **LIGHTGCN), CPU)
    assert len(budget.history) == 1 and "recall@20" in budget.history[0]


def test_explicit_validation_targets_are_used(planted):
    graph, _, _ = planted
    targets = CSRMatrix.from_pairs(np.array([0, 1]), np.array([0, 1]), graph.n_users, graph.n_items)
    result = train(graph, TrainConfig(epochs=1, **LIGHTGCN), CPU, validation=targets)
    assert result.best_metrics["users"] == 2
    assert result.ops.adjacency.n_rows == graph.n_users + graph.n_items


def test_inductive_model_embeds_unseen_user_and_item(make_planted):
    graph, user_block, item_block = make_planted(features=True)
    config = TrainConfig(model="inductive", epochs=8, patience=8, id_dropout=0.3, **FAST)
    model = train(graph, config, CPU).model
    # a brand-new user who interacted with three block-2 items, and a brand-new item whose
    # only content features are "block 3" plus the uninformative shared feature
    from ml.data import InteractionGraph

    block2 = np.flatnonzero(item_block == 2)[:3]
    grown = InteractionGraph(
        n_users=graph.n_users + 1,
        n_items=graph.n_items + 1,
        user_index=np.concatenate([graph.user_index, np.full(3, graph.n_users)]),
        item_index=np.concatenate([graph.item_index, block2]),
        weight=np.concatenate([graph.weight, np.ones(3)]),
        item_feature_ptr=np.append(graph.item_feature_ptr, graph.item_feature_ptr[-1] + 2),
        item_feature_index=np.append(graph.item_feature_index, [3, graph.n_features - 1]),
        n_features=graph.n_features,
    )
    ops = GraphOperators.build(grown, CPU)
    users, items = embed_users_items(model, ops, np.arange(grown.n_users), np.arange(grown.n_items))
    new_user_scores = users[-1] @ items[: graph.n_items].T
    top = torch.topk(new_user_scores, 10).indices.numpy()
    assert np.mean(item_block[top] == 2) > 0.8
    new_item_scores = users[: graph.n_users] @ items[-1]
    top_users = torch.topk(new_item_scores, 10).indices.numpy()
    assert np.mean(user_block[top_users] == 3) > 0.8


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_cuda_matches_shapes(planted):
    graph, _, _ = planted
    result = train(graph, TrainConfig(epochs=2, **LIGHTGCN), torch.device("cuda"))
    embeddings = full_embeddings(result.model, result.ops)
    assert embeddings.is_cuda and embeddings.shape == (graph.n_users + graph.n_items, 16)


@pytest.mark.parametrize("loss", ["full_softmax", "bpr"])
def test_weight_decay_shrinks_layer0_embeddings(planted, loss):
    graph, _, _ = planted
    norms = []
    for weight_decay in (0.0, 10.0):
        config = TrainConfig(loss=loss, epochs=3, patience=3, weight_decay=weight_decay, **LIGHTGCN)
        model = train(graph, config, CPU).model
        norms.append(float(model.user_embedding.weight.detach().norm()))
    assert norms[1] < 0.9 * norms[0]
