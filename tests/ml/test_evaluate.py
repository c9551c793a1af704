"""Every ranking metric against values computed by hand on a toy ranking."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ml.data import CSRMatrix
from ml.evaluate import evaluate_ranking, plot_training_curve


def _toy():
    # 1-d embeddings: score(u, i) = user * item, so the rankings are easy to read off.
    users = torch.tensor([[1.0], [-1.0], [1.0]])
    items = torch.tensor([[0.9], [0.8], [0.7], [0.6], [0.5]])
    # user 0 ranks items 0>1>2>3>4, item 0 is masked; user 1 ranks 4>3>2>1>0; user 2 has no target
    targets = CSRMatrix.from_pairs(np.array([0, 0, 1]), np.array([2, 4, 0]), 3, 5)
    exclude = CSRMatrix.from_pairs(np.array([0]), np.array([0]), 3, 5)
    return users, items, targets, exclude


def test_metrics_match_hand_computation():
    users, items, targets, exclude = _toy()
    got = evaluate_ranking(users, items, targets, exclude, ks=(2, 3), batch_size=2)
    # user 0 after masking: 1, 2*, 3, 4*  -> one hit at rank 2 in the top 2 and top 3
    dcg = 1 / math.log2(3)
    idcg = 1 + 1 / math.log2(3)
    # user 1: 4, 3, 2, 1, 0* -> no hit in the top 3, best target at rank 5
    assert got["users"] == 2
    assert got["recall@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert got["precision@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert got["precision@3"] == pytest.approx((1 / 3 + 0) / 2)
    assert got["hit_rate@2"] == pytest.approx(0.5)
    assert got["ndcg@2"] == pytest.approx((dcg / idcg) / 2)
    assert got["ndcg@3"] == pytest.approx((dcg / idcg) / 2)
    assert got["mrr"] == pytest.approx((1 / 2 + 1 / 5) / 2)
    # top-2 lists {1, 2} and {4, 3}: 4 of 5 items shown
    assert got["coverage@2"] == pytest.approx(4 / 5)
    assert got["coverage@3"] == pytest.approx(4 / 5)  # {1, 2, 3} and {4, 3, 2}: item 0 never


def test_ndcg_ideal_uses_min_of_targets_and_k():
    users = torch.tensor([[1.0]])
    items = torch.tensor([[3.0], [2.0], [1.0]])
    targets = CSRMatrix.from_pairs(np.array([0, 0, 0]), np.array([0, 1, 2]), 1, 3)
    got = evaluate_ranking(users, items, targets, None, ks=(2,))
    assert got["ndcg@2"] == pytest.approx(1.0)  # all of the top 2 relevant = ideal
    assert got["recall@2"] == pytest.approx(2 / 3)


def test_masked_items_are_never_hits():
    users, items, targets, _ = _toy()
    masked_targets = CSRMatrix.from_pairs(np.array([0, 0]), np.array([0, 2]), 3, 5)
    got = evaluate_ranking(users, items, targets, masked_targets, ks=(1,))
    assert got["recall@1"] == 0.0  # user 0's item 2 (rank 3) and item 4 are not first


def test_training_curve_png(tmp_path):
    history = [{"epoch": 1, "loss": 2.0, "recall@20": 0.1}, {"epoch": 2, "loss": 1.5}]
    path = tmp_path / "curve.png"
    plot_training_curve(history, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cutoff_larger_than_catalogue():
    users = torch.tensor([[1.0]])
    items = torch.tensor([[2.0], [1.0]])
    targets = CSRMatrix.from_pairs(np.array([0]), np.array([1]), 1, 2)
    got = evaluate_ranking(users, items, targets, None, ks=(20,))
    assert got["recall@20"] == 1.0
    assert got["ndcg@20"] == pytest.approx(1 / math.log2(3))
    assert got["precision@20"] == pytest.approx(1 / 20)
