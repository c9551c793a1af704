"""The exchange format: validation, CSR helpers, holdout splits, fingerprint."""

from __future__ import annotations

import numpy as np
import pytest

from ml.data import CSRMatrix, InteractionGraph, holdout_split


def _graph(**overrides):
    fields = dict(
        n_users=3,
        n_items=4,
        user_index=np.array([0, 0, 1, 2, 2, 2]),
        item_index=np.array([0, 1, 1, 2, 3, 0]),
        weight=np.array([1.0, 2.0, 1.0, 1.0, 3.0, 1.0]),
    )
    fields.update(overrides)
    return InteractionGraph(**fields)


def test_valid_graph_normalises_dtypes_and_ids():
    graph = _graph(user_index=[0, 0, 1, 2, 2, 2])
    assert graph.user_index.dtype == np.int64
    assert graph.weight.dtype == np.float32
    assert graph.user_ids == ["0", "1", "2"]
    assert graph.item_ids == ["0", "1", "2", "3"]
    assert graph.n_edges == 6
    assert not graph.has_features


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"user_index": np.array([0, 0, 1, 3, 2, 2])}, "user_index"),
        ({"item_index": np.array([0, 1, 1, 2, 4, 0])}, "item_index"),
        ({"item_index": np.array([0, 1, 1])}, "same length"),
        ({"weight": np.array([1.0, 0.0, 1.0, 1.0, 1.0, 1.0])}, "weight"),
        ({"weight": np.array([1.0, np.nan, 1.0, 1.0, 1.0, 1.0])}, "weight"),
        ({"ts": np.array([1, 2])}, "ts"),
        ({"user_ids": ["a", "b"]}, "user_ids"),
        ({"item_feature_ptr": np.array([0, 1, 1, 2, 2])}, "together"),
        (
            {
                "item_feature_ptr": np.array([0, 1, 1, 2, 3]),
                "item_feature_index": np.array([0, 1, 5]),
                "n_features": 2,
            },
            "item_feature_index",
        ),
        (
            {
                "item_feature_ptr": np.array([0, 2, 1, 2, 3]),
                "item_feature_index": np.array([0, 1, 1]),
                "n_features": 2,
            },
            "non-decreasing",
        ),
    ],
)
def test_invalid_graphs_are_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        _graph(**overrides)


def test_user_items_csr_is_deduplicated_and_sorted():
    graph = _graph(item_index=np.array([1, 1, 1, 3, 2, 0]))
    csr = graph.user_items()
    assert csr.indptr.tolist() == [0, 1, 2, 5]
    assert csr.row(0).tolist() == [1]
    assert csr.row(2).tolist() == [0, 2, 3]
    assert csr.rows().tolist() == [0, 1, 2, 2, 2]


def test_csr_from_pairs_counts_rows():
    csr = CSRMatrix.from_pairs(np.array([2, 0, 2]), np.array([1, 3, 0]), 4, 5)
    assert csr.row_lengths().tolist() == [1, 0, 2, 0]
    assert csr.nnz == 3


def test_item_features_round_trip():
    graph = _graph(
        item_feature_ptr=np.array([0, 1, 1, 2, 4]),
        item_feature_index=np.array([0, 1, 0, 1]),
        n_features=2,
    )
    features = graph.item_features()
    assert features is not None and features.row(3).tolist() == [0, 1]


def test_random_holdout_partitions_each_users_edges(planted):
    graph, _, _ = planted
    split = holdout_split(graph, fraction=0.25, seed=3, by_time=False)
    assert split.train.n_edges + split.targets.nnz == graph.n_edges
    assert np.all(np.bincount(split.train.user_index, minlength=graph.n_users) >= 1)
    held_per_user = split.targets.row_lengths()
    assert np.all(held_per_user == 2)  # 8 edges * 0.25, deterministic here
    train_pairs = set(
        zip(split.train.user_index.tolist(), split.train.item_index.tolist(), strict=True)
    )
    for user in range(graph.n_users):
        assert not any((user, item) in train_pairs for item in split.targets.row(user))
    again = holdout_split(graph, fraction=0.25, seed=3, by_time=False)
    assert np.array_equal(again.targets.indices, split.targets.indices)


def test_time_holdout_takes_each_users_latest_edge():
    graph = _graph(ts=np.array([5, 9, 1, 7, 3, 8]))
    split = holdout_split(graph)
    assert [split.targets.row(u).tolist() for u in range(3)] == [[1], [], [0]]
    assert split.train.n_edges == 4  # the single-edge user keeps its edge


def test_holdout_can_be_limited_to_a_user_sample(planted):
    graph, _, _ = planted
    split = holdout_split(graph, fraction=0.25, seed=0, by_time=False, max_users=10)
    assert int((split.targets.row_lengths() > 0).sum()) == 10


def test_fingerprint_tracks_edges():
    graph = _graph()
    assert graph.fingerprint() == _graph().fingerprint()
    assert (
        graph.fingerprint() != _graph(weight=np.array([1.0, 2.0, 1.0, 1.0, 3.0, 2.0])).fingerprint()
    )
    assert graph.with_edges(np.arange(6) < 5).n_edges == 5
