"""Readers for the public benchmark data sets under ``../shared/data`` (numpy only).

Each reader returns a :class:`BenchmarkData`: the training :class:`~ml.data.InteractionGraph`
plus the user -> item targets of the benchmark's own validation / test protocol. Readers take
the data set's folder; where that folder is by default is the caller's business
(``app.settings.shared_data_dir``), since ml/ does not read the service's configuration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.data import CSRMatrix, InteractionGraph


@dataclass(frozen=True)
class BenchmarkData:
    """A benchmark split.

    Attributes:
        graph: Training interactions (the graph models are trained on).
        test: Test targets ``user -> items`` of the published protocol.
        validation: Validation targets where the protocol defines them, else ``None``.
    """

    graph: InteractionGraph
    test: CSRMatrix
    validation: CSRMatrix | None = None


def _read_user_lists(path: Path) -> list[np.ndarray]:
    """Reads ``user item item ...`` lines into per-line int64 arrays (user first)."""
    rows = []
    with path.open() as handle:
        for line in handle:
            parts = line.split()
            if parts:
                rows.append(np.array(parts, dtype=np.int64))
    return rows


def _pairs(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    users = np.concatenate([np.full(len(r) - 1, r[0], dtype=np.int64) for r in rows])
    items = np.concatenate([r[1:] for r in rows])
    return users, items


def load_gowalla(data_dir: Path) -> BenchmarkData:
    """Reads the LightGCN Gowalla split (``train.txt`` / ``test.txt``, 0-based ids, no ts).

    Args:
        data_dir: Folder holding ``train.txt`` and ``test.txt``.

    Returns:
        Unit-weight training graph and the test targets; no validation split is defined.
    """
    train_users, train_items = _pairs(_read_user_lists(data_dir / "train.txt"))
    test_users, test_items = _pairs(_read_user_lists(data_dir / "test.txt"))
    n_users = int(max(train_users.max(), test_users.max())) + 1
    n_items = int(max(train_items.max(), test_items.max())) + 1
    graph = InteractionGraph(
        n_users=n_users,
        n_items=n_items,
        user_index=train_users,
        item_index=train_items,
        weight=np.ones(len(train_users), dtype=np.float32),
    )
    test = CSRMatrix.from_pairs(test_users, test_items, n_users, n_items)
    return BenchmarkData(graph=graph, test=test)


def _read_item_attributes(path: Path, n_items: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Reads ``{"item": [attr, ...]}`` (1-based item ids) into a 0-based item -> attr CSR."""
    raw = json.loads(path.read_text())
    vocab: dict[int, int] = {}
    rows, cols = [], []
    for item, attributes in raw.items():
        item0 = int(item) - 1
        if not 0 <= item0 < n_items:
            continue
        for attribute in attributes:
            rows.append(item0)
            cols.append(vocab.setdefault(int(attribute), len(vocab)))
    csr = CSRMatrix.from_pairs(np.array(rows), np.array(cols), n_items, len(vocab))
    return csr.indptr, csr.indices, len(vocab)


def load_beauty(data_dir: Path, with_features: bool = True) -> BenchmarkData:
    """Reads Amazon Beauty (S3-Rec format) with the leave-one-out-by-time protocol.

    Per user the last item is the test target, the one before it the validation target and the
    rest the training graph. Raw timestamps are not published, so ``ts`` holds each interaction's
    position in the user's sequence (monotone per user, which is all a time split needs).

    Args:
        data_dir: Folder holding ``Beauty.txt`` (and ``Beauty_item2attributes.json``).
        with_features: Attach item categories/brand as content features.

    Returns:
        Training graph (ids shifted to 0-based), validation and test targets.
    """
    rows = _read_user_lists(data_dir / "Beauty.txt")
    n_users = len(rows)
    n_items = int(max(r[1:].max() for r in rows))
    train_u, train_i, train_t, val_u, val_i, test_u, test_i = [], [], [], [], [], [], []
    for user, row in enumerate(rows):
        items = row[1:] - 1
        if len(items) >= 3:
            val_u.append(user)
            val_i.append(items[-2])
        if len(items) >= 2:
            test_u.append(user)
            test_i.append(items[-1])
        n_train = max(len(items) - 2, 1)
        train_u.append(np.full(n_train, user, dtype=np.int64))
        train_i.append(items[:n_train])
        train_t.append(np.arange(n_train, dtype=np.int64))
    ptr, index, n_features = (None, None, 0)
    if with_features:
        ptr, index, n_features = _read_item_attributes(
            data_dir / "Beauty_item2attributes.json", n_items
        )
    graph = InteractionGraph(
        n_users=n_users,
        n_items=n_items,
        user_index=np.concatenate(train_u),
        item_index=np.concatenate(train_i),
        weight=np.ones(sum(len(u) for u in train_u), dtype=np.float32),
        ts=np.concatenate(train_t),
        item_feature_ptr=ptr,
        item_feature_index=index,
        n_features=n_features,
    )
    validation = CSRMatrix.from_pairs(np.array(val_u), np.array(val_i), n_users, n_items)
    test = CSRMatrix.from_pairs(np.array(test_u), np.array(test_i), n_users, n_items)
    return BenchmarkData(graph=graph, test=test, validation=validation)


def with_validation_edges(data: BenchmarkData) -> InteractionGraph:
    """The training graph plus every user's validation interaction (latest ts)."""
    graph, validation = data.graph, data.validation
    if validation is None:
        raise ValueError("this benchmark has no validation targets")
    last_ts = np.zeros(graph.n_users, dtype=np.int64)
    np.maximum.at(last_ts, graph.user_index, graph.ts if graph.ts is not None else 0)
    users = validation.rows()
    return InteractionGraph(
        n_users=graph.n_users,
        n_items=graph.n_items,
        user_index=np.concatenate([graph.user_index, users]),
        item_index=np.concatenate([graph.item_index, validation.indices]),
        weight=np.concatenate([graph.weight, np.ones(len(users), dtype=np.float32)]),
        ts=None if graph.ts is None else np.concatenate([graph.ts, last_ts[users] + 1]),
        item_feature_ptr=graph.item_feature_ptr,
        item_feature_index=graph.item_feature_index,
        n_features=graph.n_features,
    )
