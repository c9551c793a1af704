"""Semantic search over item text: the query is encoded in the API process, without torch.

``ml.query_encoder`` runs the item-text encoder's network in numpy from the packaged weights
(about 90 MB, loaded once per worker on the first search), so a query lands in the space of the
item vectors that the worker's batch job stores; Neo4j's vector index finds the nearest items.
"""

from __future__ import annotations

import threading
from typing import Any

from neo4j import Driver

from graphdb.text_vectors import search_items
from ml.query_encoder import QueryEncoder, packaged_encoder

MAX_QUERY_CHARS = 500
# Text matches a stated need (recommendations' q=) ranks the user's scores among.
STEER_CANDIDATES = 200


class QueryEncoders:
    """One encoder per process, loaded on first use (under a lock: one thread loads it)."""

    def __init__(self) -> None:
        self._encoder: QueryEncoder | None = None
        self._lock = threading.Lock()

    def get(self) -> QueryEncoder:
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    self._encoder = packaged_encoder()  # shared with review sentiment
        return self._encoder


def search(
    driver: Driver, query: str, k: int, encoders: QueryEncoders, database: str | None
) -> dict[str, Any]:
    vector = encoders.get().encode([query])[0]
    return {"query": query, "items": search_items(driver, vector, k, database)}
