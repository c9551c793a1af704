"""Graph operators and models: normalisation, shapes, exact subset and incremental refresh."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.data import InteractionGraph
from ml.embed import affected_users_items, embed_users_items, full_embeddings
from ml.models import GraphOperators, InductiveGCN, InterestGraphGNN, WeightedLightGCN
from ml.models.graph import symmetric_spmm

CPU = torch.device("cpu")


def test_adjacency_is_weighted_symmetric_normalisation():
    graph = InteractionGraph(
        n_users=2,
        n_items=2,
        user_index=np.array([0, 0, 0, 1]),
        item_index=np.array([0, 1, 1, 1]),  # (0, 1) twice: weights are summed
        weight=np.array([1.0, 2.0, 1.0, 4.0]),
    )
    dense = GraphOperators.build(graph, CPU).adjacency_t.to_dense()
    w = np.array([[1.0, 3.0], [0.0, 4.0]])
    du, di = w.sum(1), w.sum(0)
    block = w / np.sqrt(du[:, None] * di[None, :])
    expected = np.block([[np.zeros((2, 2)), block], [block.T, np.zeros((2, 2))]])
    assert np.allclose(dense.numpy(), expected, atol=1e-6)


def test_symmetric_spmm_gradient_matches_dense(planted):
    graph, _, _ = planted
    ops = GraphOperators.build(graph, CPU)
    x = torch.randn(ops.n_nodes, 3, requires_grad=True)
    symmetric_spmm(ops.adjacency_t, x).pow(2).sum().backward()
    x_dense = x.detach().clone().requires_grad_()
    (ops.adjacency_t.to_dense() @ x_dense).pow(2).sum().backward()
    assert x.grad is not None and x_dense.grad is not None
    assert torch.allclose(x.grad, x_dense.grad, atol=1e-5)


@pytest.mark.parametrize("cosine", [False, True])
def test_output_shapes(planted_with_features, cosine):
    graph, _, _ = planted_with_features
    ops = GraphOperators.build(graph, CPU)
    for model in (
        WeightedLightGCN(graph.n_users, graph.n_items, dim=8, num_layers=2, cosine=cosine),
        InductiveGCN(graph.n_items, graph.n_features, dim=8, num_layers=2, cosine=cosine),
    ):
        out = model(ops)
        assert out.shape == (graph.n_users + graph.n_items, 8)
        if cosine:
            assert torch.allclose(out.norm(dim=1), torch.ones(len(out)), atol=1e-5)


@pytest.mark.parametrize("model_kind", ["lightgcn", "inductive", "interest"])
def test_subset_equals_full_recomputation(planted_with_features, model_kind):
    graph, _, _ = planted_with_features
    if model_kind == "interest":  # the interest edges are an input of this model too
        graph = graph.with_interests(graph.interactions_by_feature())
    ops = GraphOperators.build(graph, CPU)
    torch.manual_seed(0)
    model = {
        "lightgcn": lambda: WeightedLightGCN(graph.n_users, graph.n_items, dim=8, num_layers=3),
        "inductive": lambda: InductiveGCN(graph.n_items, graph.n_features, dim=8, num_layers=3),
        "interest": lambda: _with_interest_map(
            InterestGraphGNN(graph.n_items, graph.n_features, dim=8, num_layers=3)
        ),
    }[model_kind]().eval()
    full = full_embeddings(model, ops)
    users, items = np.array([3, 0, 77, 3]), np.array([5, 79])
    user_vecs, item_vecs = embed_users_items(model, ops, users, items)
    assert torch.allclose(user_vecs, full[[0, 3, 77]], atol=1e-5)
    assert torch.allclose(item_vecs, full[graph.n_users + np.array([5, 79])], atol=1e-5)


def _with_interest_map(model: InterestGraphGNN) -> InterestGraphGNN:
    """A trained-looking interest map (it starts at zero, which would test nothing)."""
    with torch.no_grad():
        model.interest_proj.weight.normal_()
    return model


def _grow(graph: InteractionGraph, item_block: np.ndarray):
    """Adds a new user with 3 edges and a new item (features of block 1) with one edge."""
    new_user, new_item = graph.n_users, graph.n_items
    block1 = np.flatnonzero(item_block == 1)[:3]
    ptr = np.append(graph.item_feature_ptr, graph.item_feature_ptr[-1] + 2)
    index = np.append(graph.item_feature_index, [1, graph.n_features - 1])
    return InteractionGraph(
        n_users=graph.n_users + 1,
        n_items=graph.n_items + 1,
        user_index=np.concatenate([graph.user_index, [new_user] * 3, [1]]),
        item_index=np.concatenate([graph.item_index, block1, [new_item]]),
        weight=np.concatenate([graph.weight, np.ones(4)]),
        item_feature_ptr=ptr,
        item_feature_index=index,
        n_features=graph.n_features,
    )


def test_incremental_refresh_of_new_user_and_item_is_exact(planted_with_features):
    graph, _, item_block = planted_with_features
    torch.manual_seed(1)
    model = InductiveGCN(graph.n_items, graph.n_features, dim=8, num_layers=2).eval()
    old_ops = GraphOperators.build(graph, CPU)
    old_full = full_embeddings(model, old_ops)
    grown = _grow(graph, item_block)
    new_ops = GraphOperators.build(grown, CPU)
    new_full = full_embeddings(model, new_ops)
    changed_users = np.array([graph.n_users, 1])
    changed_items = np.concatenate([np.flatnonzero(item_block == 1)[:3], [graph.n_items]])
    users, items = affected_users_items(
        [old_ops, new_ops], changed_users, changed_items, hops=model.num_layers
    )
    user_vecs, item_vecs = embed_users_items(model, new_ops, users, items)
    assert torch.allclose(user_vecs, new_full[users], atol=1e-5)
    assert torch.allclose(item_vecs, new_full[grown.n_users + items], atol=1e-5)
    # every node outside the affected set is unchanged by the growth
    stale_users = np.setdiff1d(np.arange(graph.n_users), users)
    stale_items = np.setdiff1d(np.arange(graph.n_items), items)
    assert len(stale_users) > 0 and len(stale_items) > 0
    assert torch.allclose(new_full[stale_users], old_full[stale_users], atol=1e-5)
    assert torch.allclose(
        new_full[grown.n_users + stale_items], old_full[graph.n_users + stale_items], atol=1e-5
    )
    # the new user's and new item's vectors are real, not padding
    assert user_vecs[-1].abs().sum() > 0 and item_vecs[-1].abs().sum() > 0


def test_transductive_model_refuses_unseen_nodes(planted_with_features):
    graph, _, item_block = planted_with_features
    model = WeightedLightGCN(graph.n_users, graph.n_items, dim=4)
    with pytest.raises(ValueError, match="InductiveGCN"):
        model(GraphOperators.build(_grow(graph, item_block), CPU))


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit notice raised by PyG import
def test_propagation_matches_pyg_lgconv(planted):
    """The cached-CSR propagation equals PyG's reference LightGCN operator with edge weights."""
    from torch_geometric.nn import LGConv

    graph, _, _ = planted
    ops = GraphOperators.build(graph, CPU)
    items = graph.item_index + graph.n_users
    edge_index = torch.from_numpy(
        np.stack(
            [
                np.concatenate([graph.user_index, items]),
                np.concatenate([items, graph.user_index]),
            ]
        )
    )
    edge_weight = torch.from_numpy(np.concatenate([graph.weight, graph.weight]))
    torch.manual_seed(0)
    model = WeightedLightGCN(graph.n_users, graph.n_items, dim=8, num_layers=3).eval()
    x = model.base_embeddings(ops).detach()
    conv, hidden, total = LGConv(), x, x
    for _ in range(3):
        hidden = conv(hidden, edge_index, edge_weight)
        total = total + hidden
    with torch.no_grad():
        assert torch.allclose(model(ops), total / 4, atol=1e-5)
