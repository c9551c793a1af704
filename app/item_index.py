"""The active model version's item vectors, held in each API worker for ranking.

Ranking every item for a user is one ``[n_items × dim]`` matrix-vector product (41k × 64 is
about a millisecond), far cheaper than an approximate-nearest-neighbour query plus filters
in the database per request. The copy is keyed by model version: when the active version
changes, the next request loads the new one (under a lock, so one thread does it).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from neo4j import Driver

from graphdb.reads import item_matrix


@dataclass
class ItemIndex:
    version: str
    ids: list[str]
    titles: list[str | None]
    unit: np.ndarray  # float32 [n_items, dim], rows L2-normalised
    categories: list[list[str]]  # each item's categories and their ancestors
    leaves: list[list[str]]
    brands: list[list[str]]
    position: dict[str, int] = field(init=False)
    _masks: dict[tuple[str, str], np.ndarray] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.position = {item_id: k for k, item_id in enumerate(self.ids)}

    @classmethod
    def from_rows(cls, version: str, rows: list[dict[str, Any]]) -> ItemIndex:
        dims = len(rows[0]["embedding"]) if rows else 0
        vectors = np.asarray([r["embedding"] for r in rows], dtype=np.float32).reshape(-1, dims)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return cls(
            version=version,
            ids=[r["item_id"] for r in rows],
            titles=[r["title"] for r in rows],
            unit=vectors,
            categories=[list(r["categories"]) for r in rows],
            leaves=[list(r["leaves"]) for r in rows],
            brands=[list(r["brands"]) for r in rows],
        )

    def mask(self, kind: str, value: str) -> np.ndarray:
        """Items in a category (or below it) or of a brand, as a boolean mask (cached)."""
        key = (kind, value)
        if key not in self._masks:
            lists = self.categories if kind == "category" else self.brands
            self._masks[key] = np.fromiter((value in v for v in lists), bool, len(lists))
        return self._masks[key]

    def positions(self, item_ids: list[str]) -> np.ndarray:
        found = [self.position[i] for i in item_ids if i in self.position]
        return np.asarray(found, dtype=np.int64)


class ItemIndexCache:
    """One ``ItemIndex`` per process, reloaded when the active version changes."""

    def __init__(self) -> None:
        self._index: ItemIndex | None = None
        self._lock = threading.Lock()

    def get(self, driver: Driver, version: str, database: str | None) -> ItemIndex:
        index = self._index
        if index is not None and index.version == version:
            return index
        with self._lock:
            if self._index is None or self._index.version != version:
                self._index = ItemIndex.from_rows(version, item_matrix(driver, version, database))
            return self._index
