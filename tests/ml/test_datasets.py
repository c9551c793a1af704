"""Readers of the shared benchmark data (skipped where ../shared/data is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.settings import shared_data_dir
from ml.datasets import load_beauty, load_gowalla

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = shared_data_dir()

pytestmark = pytest.mark.shared_data


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (set IG_SHARED_DATA to its location)")
    return path


def test_gowalla_split_sizes():
    data = load_gowalla(_require(SHARED / "gowalla"))
    assert (data.graph.n_users, data.graph.n_items) == (29_858, 40_981)
    assert data.graph.n_edges == 810_128
    assert data.test.nnz == 217_242
    assert data.validation is None
    # the published protocol masks train items; train and test do not overlap
    train_keys = data.graph.user_index * 40_981 + data.graph.item_index
    test_keys = data.test.rows() * 40_981 + data.test.indices
    assert not np.isin(test_keys, train_keys).any()


def test_beauty_leave_one_out_by_time():
    directory = _require(SHARED / "amazon-beauty")
    data = load_beauty(directory)
    graph = data.graph
    assert (graph.n_users, graph.n_items) == (22_363, 12_101)
    assert data.validation is not None
    assert graph.n_edges + data.validation.nnz + data.test.nnz == 198_502
    assert graph.has_features and 0 < graph.n_features <= 637
    # user 0's sequence is "1 2 3 4 5" (1-based): train 0,1,2; validation 3; test 4
    first_line = (directory / "Beauty.txt").read_text().split("\n", 1)[0].split()
    items = np.array(first_line[1:], dtype=np.int64) - 1
    assert graph.item_index[graph.user_index == 0].tolist() == items[:-2].tolist()
    assert data.validation.row(0).tolist() == [items[-2]]
    assert data.test.row(0).tolist() == [items[-1]]
    assert np.all(np.diff(graph.ts[graph.user_index == 0]) > 0)
