"""Keep every catalog item's text vector current, so semantic search sees new and edited items.

Runs in the worker, before training the inductive model (item text is one of its inputs) and
from ``interest-graph embed-text``; never in the API: the batch encoder is sentence-transformers
on torch, on the GPU when there is one.
"""

from __future__ import annotations

import logging

from graphdb.store import GraphStore

log = logging.getLogger(__name__)
BATCH = 512


def embed_item_texts(store: GraphStore, device: str | None = None, batch: int = BATCH) -> int:
    """Encode and store the text of every item that needs it; returns how many were written."""
    from ml.text import ItemText, encode_items

    written = 0
    while rows := store.text.items_needing_text(batch):
        texts = [ItemText(r.title, r.description, r.categories, r.brand) for r in rows]
        vectors = encode_items(texts, device=device)
        written += store.text.write_text_vectors([r.item_id for r in rows], vectors)
        if len(rows) < batch:
            break
    if written:
        log.info("text vectors written for %d items", written)
    return written
