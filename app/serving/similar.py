"""Similar items: exact cosine neighbours from the worker's in-memory item vectors.

The API already holds the active version's item vectors for ranking (``app.serving.item_index``), so
an item's neighbours are one matrix-vector product away: exact, not approximate, and without
a vector-index query per request, which under load was the slow part of this endpoint. The
graph is still asked for the active version and its refresh revision (one small read), so a
version switch or a refresh is seen by the next request, unless the worker's change feed
(``app.serving.rec_lists``) read them under a second ago. Items the index does not hold (an
unknown id, an item without a vector yet) and catalogues too large for a product per request
go to the Neo4j vector index as before.
"""

from __future__ import annotations

import numpy as np

from app.serving.item_index import ItemIndexCache
from app.serving.recommend import top_positions
from graphdb.similar_items import ScoredItem, SimilarItems
from graphdb.store import GraphStore

# Above this many items one product per request (~64 multiply-adds per item) costs more than
# the vector index's approximate search.
EXACT_MAX_ITEMS = 250_000


def similar(
    store: GraphStore,
    item_id: str,
    k: int,
    items: ItemIndexCache,
    active: tuple[str, int] | None = None,
) -> SimilarItems:
    """The item's nearest neighbours; scores are Neo4j's cosine score, (1 + cos) / 2.

    ``active``: the active ``(version, revision)`` when the caller knows it fresh (the change
    feed of :mod:`app.serving.rec_lists`); the graph is asked otherwise.
    """
    if active is None:
        state = store.changes.read_refresh_state()
        active = (state.version, state.revision) if state is not None else None
    if active is not None:
        version, revision = active
        index = items.get(version, revision)
        probe = index.position.get(item_id)
        if probe is not None and len(index.ids) <= EXACT_MAX_ITEMS:
            cosines = index.unit @ index.unit[probe]
            others = np.ones(len(cosines), dtype=bool)
            others[probe] = False
            top = top_positions(cosines, others, k)
            neighbours = tuple(
                ScoredItem(index.ids[p], index.titles[p], (1.0 + float(cosines[p])) / 2.0)
                for p in top.tolist()
            )
            return SimilarItems(found=True, embedded=True, version=version, items=neighbours)
    return store.reads.similar_items(item_id, k)
