"""A live, patchable copy of the interaction graph, lined up with a trained model's tables.

The refresh worker keeps one in memory between runs: a run patches in what changed (a
changed user's whole edge list, a changed item's content features, erased users) instead of
re-reading a million edges. Items keep the order of the model's item-ID table (new items
are appended, so they get no ID row and are embedded from features and neighbours);
features use the model's vocabulary (a category the model never saw is ignored until the
next full retrain); item text vectors are kept only when the model reads text, at the model's
width. Weights are kept raw, each at its own ``last_ts``, and decayed to a
common clock whenever an ``InteractionGraph`` is built, exactly as a fresh snapshot is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from graphdb.changes import UserEdges
from graphdb.snapshot import (
    GraphSnapshot,
    decay_to_common_clock,
    decay_within_user,
    feature_kind,
)
from ml.data import InteractionGraph
from ml.interests import UserInterests


def _positions(index: dict[str, int], names: list[str], ids: Iterable[str]) -> np.ndarray:
    """Positions of ``ids``, appending unknown ones to ``names``/``index``."""
    out = []
    for key in ids:
        pos = index.get(key)
        if pos is None:
            pos = index[key] = len(names)
            names.append(key)
        out.append(pos)
    return np.asarray(out, dtype=np.int64)


@dataclass
class LiveGraph:
    """Edges and item features as numpy arrays, with stable user and item positions.

    Attributes:
        item_ids: Items in model order (trained items first, new ones appended).
        user_ids: Users in first-seen order (inductive users own no parameters).
        feature_ids: The model's feature vocabulary.
        half_life_ms: Decay half-life used to align edge weights.
        text_dim: Width of the text vectors the model reads (0 = it reads none).
        item_text: float32[n_items, text_dim] text vectors (zero rows = no text).
    """

    item_ids: list[str]
    feature_ids: list[str]
    half_life_ms: float
    user_ids: list[str] = field(default_factory=list)
    edge_user: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    edge_item: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    edge_weight: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    edge_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    item_features: list[np.ndarray] = field(default_factory=list)
    text_dim: int = 0
    item_text: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    # user position -> (feature positions, weights decayed within the user)
    interests: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.item_pos = {item_id: k for k, item_id in enumerate(self.item_ids)}
        self.user_pos = {user_id: k for k, user_id in enumerate(self.user_ids)}
        self.feature_pos = {name: k for k, name in enumerate(self.feature_ids)}
        self._grow_item_features()

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @classmethod
    def from_snapshot(
        cls,
        snapshot: GraphSnapshot,
        item_order: Sequence[str],
        feature_ids: Sequence[str],
        half_life_ms: float,
        text_dim: int = 0,
    ) -> LiveGraph:
        """The snapshot's graph with items in ``item_order`` (others appended, sorted)."""
        live = cls(
            list(item_order), list(feature_ids), half_life_ms, list(snapshot.user_ids),
            text_dim=text_dim,
        )  # fmt: skip
        item_map = _positions(live.item_pos, live.item_ids, snapshot.item_ids)
        raw = snapshot.raw_weight if snapshot.raw_weight is not None else snapshot.weight
        live.edge_user = snapshot.user_index.astype(np.int64)
        live.edge_item = item_map[snapshot.item_index]
        live.edge_weight = np.asarray(raw, dtype=np.float64)
        live.edge_ms = snapshot.last_ts_ms.astype(np.int64)
        live.item_features = [np.zeros(0, np.int64)] * live.n_items
        ptr, index = snapshot.item_feature_ptr, snapshot.item_feature_index
        for k in range(len(snapshot.item_ids)):
            names = [snapshot.feature_ids[f] for f in index[ptr[k] : ptr[k + 1]]]
            live.item_features[item_map[k]] = live._feature_row(names)
        live._grow_item_features()
        if snapshot.item_text is not None:
            for k in range(len(snapshot.item_ids)):
                live.item_text[item_map[k]] = live._text_row(snapshot.item_text[k])
        if snapshot.interests is not None:
            live._load_interests(snapshot)
        return live

    def _load_interests(self, snapshot: GraphSnapshot) -> None:
        rows = snapshot.interests
        assert rows is not None
        order = np.argsort(rows.users, kind="stable")
        users = rows.users[order]
        if len(users) == 0:
            return
        bounds = np.r_[np.flatnonzero(np.r_[True, users[1:] != users[:-1]]), len(users)]
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            take = order[lo:hi]
            names = [snapshot.feature_ids[f] for f in rows.features[take]]
            self._set_interests(int(users[lo]), names, rows.weights[take])

    def _set_interests(self, user: int, names: Sequence[str], weights: np.ndarray) -> None:
        """A user's interests over the model's vocabulary (unknown features wait for a
        retrain, as item features do)."""
        known = [(self.feature_pos[n], w) for n, w in zip(names, weights, strict=True)
                 if n in self.feature_pos and w > 0]  # fmt: skip
        self.interests[user] = (
            np.asarray([f for f, _ in known], dtype=np.int64),
            np.asarray([w for _, w in known], dtype=np.float64),
        )

    def _text_row(self, vector: np.ndarray | None) -> np.ndarray:
        """The stored text vector as the model reads it (zeros: none, or another width)."""
        if vector is None or len(vector) != self.text_dim:
            return np.zeros(self.text_dim, dtype=np.float32)
        return np.asarray(vector, dtype=np.float32)

    def _feature_row(self, names: Iterable[str]) -> np.ndarray:
        known = {self.feature_pos[n] for n in names if n in self.feature_pos}
        return np.asarray(sorted(known), dtype=np.int64)

    def replace_users(self, changed: Sequence[UserEdges]) -> np.ndarray:
        """Replaces the whole edge list of every changed user; returns their positions."""
        users = _positions(self.user_pos, self.user_ids, (c.user_id for c in changed))
        keep = ~np.isin(self.edge_user, users)
        parts_user, parts_item = [self.edge_user[keep]], [self.edge_item[keep]]
        parts_weight, parts_ms = [self.edge_weight[keep]], [self.edge_ms[keep]]
        for pos, edges in zip(users, changed, strict=True):
            items = _positions(self.item_pos, self.item_ids, edges.item_ids)
            parts_user.append(np.full(len(items), pos, dtype=np.int64))
            parts_item.append(items)
            parts_weight.append(edges.weights.astype(np.float64))
            parts_ms.append(edges.last_ms.astype(np.int64))
            decayed = decay_within_user(edges.interest_weights, edges.interest_ms,
                                        self.half_life_ms)  # fmt: skip
            self._set_interests(int(pos), edges.interest_features, decayed)
        self._grow_item_features()
        self.edge_user = np.concatenate(parts_user)
        self.edge_item = np.concatenate(parts_item)
        self.edge_weight = np.concatenate(parts_weight)
        self.edge_ms = np.concatenate(parts_ms)
        return users

    def remove_users_except(self, present: set[str]) -> np.ndarray:
        """Drops the edges of users that no longer exist; returns the items they touched.

        Positions of removed users stay reserved (with no edges) so ids remain stable.
        """
        gone = np.asarray(
            [self.user_pos[u] for u in self.user_ids if u not in present], dtype=np.int64
        )
        if len(gone) == 0:
            return np.zeros(0, np.int64)
        for user in gone:
            self.interests.pop(int(user), None)
        hit = np.isin(self.edge_user, gone)
        touched = np.unique(self.edge_item[hit])
        keep = ~hit
        self.edge_user, self.edge_item = self.edge_user[keep], self.edge_item[keep]
        self.edge_weight, self.edge_ms = self.edge_weight[keep], self.edge_ms[keep]
        return touched

    def set_item_features(
        self,
        features: dict[str, list[str]],
        texts: dict[str, np.ndarray | None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Updates item content (features, and text vectors where given); returns ``(items in
        the change, items whose content actually differs)`` as positions."""
        touched = _positions(self.item_pos, self.item_ids, features)
        self._grow_item_features()
        texts = texts or {}
        differ = []
        for pos, (item_id, names) in zip(touched, features.items(), strict=True):
            row = self._feature_row(names)
            text = self._text_row(texts.get(item_id)) if item_id in texts else self.item_text[pos]
            if not (
                np.array_equal(row, self.item_features[pos])
                and np.array_equal(text, self.item_text[pos])
            ):
                differ.append(pos)
            self.item_features[pos] = row
            self.item_text[pos] = text
        return touched, np.asarray(differ, dtype=np.int64)

    def _grow_item_features(self) -> None:
        missing = self.n_items - len(self.item_features)
        self.item_features += [np.zeros(0, np.int64)] * missing
        if len(self.item_text) < self.n_items or self.item_text.shape[1] != self.text_dim:
            grown = np.zeros((self.n_items, self.text_dim), dtype=np.float32)
            if self.item_text.shape[1] == self.text_dim:
                grown[: len(self.item_text)] = self.item_text
            self.item_text = grown

    def to_interaction_graph(self) -> InteractionGraph:
        """Positive edges, decayed to the newest edge's time, as the model side wants them."""
        weight = decay_to_common_clock(self.edge_weight, self.edge_ms, self.half_life_ms)
        keep = weight > 0
        lengths = np.fromiter((len(f) for f in self.item_features), np.int64, self.n_items)
        ptr = np.zeros(self.n_items + 1, dtype=np.int64)
        np.cumsum(lengths, out=ptr[1:])
        index = np.concatenate(self.item_features) if self.n_items else np.zeros(0, np.int64)
        return InteractionGraph(
            n_users=self.n_users,
            n_items=self.n_items,
            user_index=self.edge_user[keep],
            item_index=self.edge_item[keep],
            weight=weight[keep],
            ts=self.edge_ms[keep],
            user_ids=list(self.user_ids),
            item_ids=list(self.item_ids),
            item_feature_ptr=ptr,
            item_feature_index=index.astype(np.int64),
            n_features=len(self.feature_ids),
            item_text=self.item_text.copy() if self.text_dim else None,
            interests=self._interest_csr(),
            feature_kind=feature_kind(self.feature_ids),
        )

    def _interest_csr(self) -> UserInterests:
        users = sorted(self.interests)
        return UserInterests.from_edges(
            np.concatenate([np.full(len(self.interests[u][0]), u, np.int64) for u in users]
                           or [np.zeros(0, np.int64)]),
            np.concatenate([self.interests[u][0] for u in users] or [np.zeros(0, np.int64)]),
            np.concatenate([self.interests[u][1] for u in users] or [np.zeros(0)]),
            self.n_users,
        )  # fmt: skip
