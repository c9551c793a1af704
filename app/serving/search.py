"""Semantic search over item text: the query is encoded in the API process, without torch.

``ml.query_encoder`` runs the item-text encoder's network in numpy from the packaged weights
(about 90 MB, loaded once per worker on the first search), so a query lands in the space of the
item vectors that the worker's batch job stores; Neo4j's vector index finds the nearest items.
"""

from __future__ import annotations

from graphdb.similar_items import ScoredItem
from graphdb.store import GraphStore
from ml.query_encoder import packaged_encoder

MAX_QUERY_CHARS = 500
# Text matches a stated need (recommendations' q=) ranks the user's scores among.
STEER_CANDIDATES = 200


def search(store: GraphStore, query: str, k: int) -> list[ScoredItem]:
    """The ``k`` items whose text is nearest ``query`` in meaning, nearest first."""
    vector = packaged_encoder().encode([query])[0]  # loaded once per process, shared
    return store.text.search_items(vector, k)
