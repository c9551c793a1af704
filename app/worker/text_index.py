"""Keep every catalog item's text vector current, so semantic search sees new and edited items.

Runs in the worker (and from ``interest-graph embed-text``), never in the API: the batch
encoder is sentence-transformers on torch, on the GPU when there is one.
"""

from __future__ import annotations

import logging

from neo4j import Driver

from graphdb.text_vectors import items_needing_text, write_text_vectors

log = logging.getLogger(__name__)
BATCH = 512


def embed_item_texts(
    driver: Driver, database: str | None = None, device: str | None = None, batch: int = BATCH
) -> int:
    """Encode and store the text of every item that needs it; returns how many were written."""
    from ml.text import ItemText, encode_items

    written = 0
    while rows := items_needing_text(driver, batch, database):
        texts = [ItemText(r.title, r.description, r.categories, r.brand) for r in rows]
        vectors = encode_items(texts, device=device)
        written += write_text_vectors(driver, [r.item_id for r in rows], vectors, database)
        if len(rows) < batch:
            break
    if written:
        log.info("text vectors written for %d items", written)
    return written
