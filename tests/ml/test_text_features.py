"""Item text as an input of the inductive GCN: cold items, exact subsets, learning from text."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from ml.coldstart import cold_start_metrics, split_cold_items
from ml.data import InteractionGraph
from ml.embed import embed_users_items, full_embeddings
from ml.models import GraphOperators, InductiveGCN
from ml.train import TrainConfig, build_model, train

CPU = torch.device("cpu")


def _with_text(graph: InteractionGraph, text: np.ndarray) -> InteractionGraph:
    return replace(graph, item_text=text)


def _block_text(item_block: np.ndarray, dim: int = 16, seed: int = 0) -> np.ndarray:
    """Unit text vectors that say which block an item belongs to, plus noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(item_block.max() + 1, dim))
    text = centres[item_block] + 0.3 * rng.normal(size=(len(item_block), dim))
    return (text / np.linalg.norm(text, axis=1, keepdims=True)).astype(np.float32)


def test_text_must_have_one_row_per_item(planted) -> None:
    graph, _, _ = planted
    with pytest.raises(ValueError, match="item_text must have shape"):
        _with_text(graph, np.zeros((graph.n_items - 1, 4), np.float32))
    with pytest.raises(ValueError, match="finite"):
        _with_text(graph, np.full((graph.n_items, 4), np.nan, np.float32))


def test_an_item_with_no_edges_and_no_id_is_embedded_from_its_text() -> None:
    text = np.zeros((4, 3), np.float32)
    text[0] = text[1] = [1.0, 0.0, 0.0]  # items 0 and 1 say the same thing
    text[2] = [0.0, 1.0, 0.0]  # item 3 has no text at all
    graph = InteractionGraph(
        n_users=1, n_items=4, user_index=np.array([0]), item_index=np.array([0]),
        weight=np.array([1.0]), item_text=text,
    )  # fmt: skip
    torch.manual_seed(0)
    # the model was trained on one item: items 1..3 have no ID row
    model = InductiveGCN(n_items=1, n_features=0, dim=5, num_layers=2, text_dim=3).eval()
    assert model.text_proj is not None
    assert torch.count_nonzero(model.text_proj.weight) == 0  # untrained: starts text-free
    torch.nn.init.normal_(model.text_proj.weight)  # as if trained
    out = full_embeddings(model, GraphOperators.build(graph, CPU))
    items = out[1:]
    expected = model.text_proj(torch.from_numpy(text[1])) / 3  # isolated: x0 / (layers + 1)
    assert torch.allclose(items[1], expected, atol=1e-6)
    assert not torch.allclose(items[1], items[2])
    assert torch.count_nonzero(items[3]) == 0


def test_subsets_with_text_equal_the_full_propagation(planted_with_features) -> None:
    graph, _, item_block = planted_with_features
    graph = _with_text(graph, _block_text(item_block))
    ops = GraphOperators.build(graph, CPU)
    torch.manual_seed(0)
    model = InductiveGCN(graph.n_items, graph.n_features, dim=8, num_layers=3, text_dim=16)
    assert model.text_proj is not None
    torch.nn.init.normal_(model.text_proj.weight)  # as if trained
    full = full_embeddings(model.eval(), ops)
    users, items = np.array([2, 40]), np.array([7, 70])
    user_vecs, item_vecs = embed_users_items(model, ops, users, items)
    assert torch.allclose(user_vecs, full[users], atol=1e-5)
    assert torch.allclose(item_vecs, full[graph.n_users + items], atol=1e-5)


def test_a_model_without_text_support_refuses_nothing_and_a_wrong_width_is_an_error(
    planted,
) -> None:
    graph, _, item_block = planted
    graph = _with_text(graph, _block_text(item_block, dim=6))
    config = TrainConfig(model="inductive", dim=4)
    blind = build_model(replace(config, use_text=False), 1, graph.n_items, 0, CPU, text_dim=6)
    assert isinstance(blind, InductiveGCN) and blind.text_proj is None
    full_embeddings(blind, GraphOperators.build(graph, CPU))  # text present, simply unused
    wrong = InductiveGCN(graph.n_items, 0, dim=4, text_dim=5)
    with pytest.raises(ValueError, match="5-d item text"):
        full_embeddings(wrong, GraphOperators.build(graph, CPU))


def _cold_recall(use_text: bool, make_planted) -> float:
    """Recall@10 of items whose every interaction was held out, ranked over all items."""
    graph, _, item_block = make_planted(n_users=160, n_items=80, per_user=6, seed=3)
    split = split_cold_items(_with_text(graph, _block_text(item_block)), 0.2, seed=0)
    config = TrainConfig(
        model="inductive", dim=16, epochs=30, lr=0.05, id_dropout=0.5, use_text=use_text,
        validation_users=None, patience=30, seed=0,
    )  # fmt: skip
    result = train(split.train, config, CPU)
    return cold_start_metrics(result.model, split, (10,), CPU)["recall@10"]


def test_the_cold_split_hides_every_interaction_of_its_items(make_planted) -> None:
    graph, _, item_block = make_planted(n_users=40, n_items=20, per_user=4, seed=1)
    text = _block_text(item_block)
    split = split_cold_items(_with_text(graph, text), 0.25, seed=0)
    assert split.train.n_items == split.n_warm == 15 and split.serve.n_items == 20
    assert split.serve.item_index.max() < split.n_warm  # cold items have no edges
    assert split.targets.nnz + split.serve.n_edges == graph.n_edges
    assert set(split.targets.indices) == set(range(15, 20))
    assert split.serve.item_text is not None and split.train.item_text is not None
    assert np.array_equal(split.serve.item_text, text[split.item_order])
    assert np.array_equal(split.train.item_text, text[split.item_order[:15]])


def test_text_lets_the_model_place_items_nobody_has_touched(make_planted) -> None:
    with_text = _cold_recall(True, make_planted)
    without = _cold_recall(False, make_planted)
    # ranking at random would find about 10 / 75 of them; by block alone about 10 / 15
    assert with_text > 0.3
    assert with_text > without + 0.25
