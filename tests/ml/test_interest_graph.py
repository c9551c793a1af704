"""The heterogeneous interest-graph GNN: PyG propagation, interest edges as input, planted
communities, and the holdout that keeps the answer out of the interests."""

from __future__ import annotations

import numpy as np
import torch

from ml.data import InteractionGraph, holdout_split
from ml.interests import UserInterests
from ml.models import GraphOperators, InductiveGCN, InterestGraphGNN
from ml.models.graph import propagate, sparse_product, with_transpose
from ml.models.interest_graph import to_hetero_data
from ml.train import TrainConfig, train

CPU = torch.device("cpu")


def _weighted_toy() -> InteractionGraph:
    """Five users, four items, uneven weights, a duplicate edge, three feature kinds."""
    return InteractionGraph(
        n_users=5,
        n_items=4,
        user_index=np.array([0, 0, 1, 1, 2, 3, 3, 4, 4]),
        item_index=np.array([0, 1, 1, 1, 2, 2, 3, 0, 3]),
        weight=np.array([1.0, 3.5, 0.2, 0.7, 2.0, 1.0, 5.0, 0.3, 1.1]),
        item_feature_ptr=np.array([0, 2, 3, 5, 6]),
        item_feature_index=np.array([0, 2, 1, 0, 3, 3]),
        n_features=4,
        feature_kind=np.array([0, 0, 1, 2], np.int8),
    )


def test_pyg_propagation_equals_the_previous_operator_on_a_weighted_graph():
    graph = _weighted_toy()
    ops = GraphOperators.build(graph, CPU)
    torch.manual_seed(0)
    old = InductiveGCN(graph.n_items, graph.n_features, dim=6, num_layers=3).eval()
    new = InterestGraphGNN(graph.n_items, graph.n_features, dim=6, num_layers=3).eval()
    with torch.no_grad():
        assert new.item_id is not None and old.item_id is not None
        new.item_id.weight.copy_(old.item_id.weight)
        new.attribute.weight.copy_(old.feature.weight)
        old.user_proj.weight.copy_(torch.randn(6, 6))
        new.user_proj.weight.copy_(old.user_proj.weight)
        # Layer 0 (HeteroConv) equals the old mean-of-features and user mean ...
        assert torch.allclose(new.base_embeddings(ops), old.base_embeddings(ops), atol=1e-6)
        # ... and the LGConv layers equal the old sparse propagation, whatever the input.
        x0 = torch.randn(ops.n_nodes, 6)
        hidden, total = x0, x0
        for layer in new.layers:
            hidden = layer(hidden, ops.adjacency_t)
            total = total + hidden
        expected = propagate(ops.adjacency_t, x0, 3)
        assert torch.allclose(total / 4, expected, atol=1e-6)
        assert torch.allclose(new(ops), old(ops), atol=1e-6)


def test_pyg_propagation_gradient_matches_dense():
    graph = _weighted_toy()
    ops = GraphOperators.build(graph, CPU)
    layer = InterestGraphGNN(graph.n_items, graph.n_features, dim=3, num_layers=1).layers[0]
    x = torch.randn(ops.n_nodes, 3, requires_grad=True)
    layer(x, ops.adjacency_t).pow(2).sum().backward()
    dense_x = x.detach().clone().requires_grad_()
    (ops.adjacency_t.to_dense() @ dense_x).pow(2).sum().backward()
    assert x.grad is not None and dense_x.grad is not None
    assert torch.allclose(x.grad, dense_x.grad, atol=1e-5)


def test_sparse_product_with_cached_transpose_has_the_dense_gradient():
    dense = torch.tensor([[0.0, 2.0, 0.5], [1.5, 0.0, 0.0]])
    matrix = with_transpose(dense.to_sparse_csr())
    x = torch.randn(3, 4, requires_grad=True)
    sparse_product(matrix, x).pow(2).sum().backward()
    x_dense = x.detach().clone().requires_grad_()
    (dense @ x_dense).pow(2).sum().backward()
    assert x.grad is not None and x_dense.grad is not None
    assert torch.allclose(x.grad, x_dense.grad, atol=1e-6)


def test_a_moved_interest_moves_the_user_at_once_and_no_one_else():
    graph = _weighted_toy()
    before = graph.with_interests(graph.interactions_by_feature())
    moved_weights = before.interests.weights.copy()  # type: ignore[union-attr]
    moved_weights[before.interests.indptr[2]] *= 50.0  # type: ignore[union-attr]
    after = graph.with_interests(
        UserInterests(before.interests.indptr, before.interests.indices, moved_weights),  # type: ignore[union-attr]
    )
    torch.manual_seed(3)
    model = InterestGraphGNN(graph.n_items, graph.n_features, dim=6, num_layers=2).eval()
    with torch.no_grad():
        model.interest_proj.weight.normal_()
        old = model.base_embeddings(GraphOperators.build(before, CPU))
        new = model.base_embeddings(GraphOperators.build(after, CPU))
    changed = (old - new).abs().amax(dim=1) > 1e-6
    assert changed.tolist() == [False, False, True, False, False, False, False, False, False]


def test_hetero_data_has_the_node_and_edge_types():
    graph = _weighted_toy()
    data = to_hetero_data(
        GraphOperators.build(graph.with_interests(graph.interactions_by_feature()), CPU)
    )
    assert set(data.node_types) == {"user", "item", "category", "brand", "tag"}
    assert data["category"].num_nodes == 2 and data["tag"].num_nodes == 1
    assert data["item", "has", "category"].edge_index.shape[1] == 3
    assert ("user", "interested_in", "brand") in data.edge_types
    assert data["user", "interacted", "item"].edge_index.shape[1] == 8  # duplicate summed


def test_hetero_model_recovers_planted_communities_from_interests(make_planted):
    graph, user_block, item_block = make_planted(features=True, per_user=6)
    graph = graph.with_interests(graph.interactions_by_feature())
    config = TrainConfig(
        model="interest", dim=16, user_batch_size=32, lr=0.05, epochs=8, patience=8,
        validation_users=None,
    )  # fmt: skip
    result = train(graph, config, CPU)
    assert result.best_metrics["recall@20"] > 0.6  # chance: about 20 / 80
    model = result.model
    assert isinstance(model, InterestGraphGNN)
    # A new user known only by one interest edge (no interaction yet) to block b's category:
    # the vector comes from the interest alone and must point at block b.
    blocks = int(user_block.max()) + 1
    n_users = graph.n_users + blocks
    cold = UserInterests.from_edges(
        np.arange(graph.n_users, n_users), np.arange(blocks), np.ones(blocks), n_users
    )
    grown = InteractionGraph(
        n_users=n_users, n_items=graph.n_items, user_index=graph.user_index,
        item_index=graph.item_index, weight=graph.weight,
        item_feature_ptr=graph.item_feature_ptr, item_feature_index=graph.item_feature_index,
        n_features=graph.n_features, interests=cold,
    )  # fmt: skip
    with torch.no_grad():
        vectors = model(GraphOperators.build(grown, CPU))
    users, items = vectors[graph.n_users : n_users], vectors[n_users:]
    top = torch.topk(users @ items.T, 10, dim=1).indices.numpy()
    purity = float((item_block[top] == np.arange(blocks)[:, None]).mean())
    assert purity > 0.9  # chance: 1 / 4


def test_the_holdout_takes_the_held_out_items_evidence_out_of_the_interests():
    graph = _weighted_toy()
    graph = graph.with_interests(graph.interactions_by_feature())
    split = holdout_split(graph, fraction=0.5, seed=0, by_time=False)
    held = split.targets
    train_interests = split.train.interests
    assert train_interests is not None
    expected = split.train.interactions_by_feature()
    # Interests built by the fold are removed exactly: what is left is the training edges' own.
    for user in range(graph.n_users):
        got = dict(
            zip(
                train_interests.indices[
                    train_interests.indptr[user] : train_interests.indptr[user + 1]
                ],
                train_interests.weights[
                    train_interests.indptr[user] : train_interests.indptr[user + 1]
                ],
                strict=True,
            )
        )
        want = dict(
            zip(
                expected.indices[expected.indptr[user] : expected.indptr[user + 1]],
                expected.weights[expected.indptr[user] : expected.indptr[user + 1]],
                strict=True,
            )
        )
        assert got.keys() == want.keys(), (user, held.row(user))
        assert np.allclose([got[k] for k in want], list(want.values()), atol=1e-5)
    assert held.nnz > 0
