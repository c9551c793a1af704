"""Catalog upserts: items with their category path and brand.

A field the client leaves out keeps its stored value; a field sent as null is cleared
(``SET i += props`` removes keys whose value is null). Categories are keyed by their full
path, so "Audio" under "Car" and under "Home" stay distinct nodes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neo4j import Driver, ManagedTransaction

from graphdb.area import StoreArea
from graphdb.driver import causal_session
from graphdb.params import batch_rows

MERGE_CATEGORIES = """
UNWIND $rows AS row
MERGE (c:Category {category_id: row.category_id})
SET c.name = row.name, c.level = row.level, c.path = row.path
"""
LINK_CATEGORY_PARENTS = """
UNWIND $rows AS row
MATCH (c:Category {category_id: row.category_id})
MATCH (p:Category {category_id: row.parent_id})
MERGE (c)-[:SUBCATEGORY_OF]->(p)
"""
MERGE_BRANDS = """
UNWIND $rows AS row
MERGE (b:Brand {brand_id: row.brand_id})
SET b.name = row.name
"""
UPSERT_ITEMS = """
UNWIND $rows AS row
MERGE (i:Item {item_id: row.item_id})
ON CREATE SET i.created_at = datetime.transaction()
SET i += row.props, i.in_catalog = true, i.changed_at = datetime.transaction(),
    i.catalog_updated_at = datetime.transaction()
WITH i, row
CALL (i, row) {
  WITH i, row WHERE row.set_category
  OPTIONAL MATCH (i)-[old:IN_CATEGORY]->(:Category)
  DELETE old
  WITH DISTINCT i, row WHERE row.category_id IS NOT NULL
  MATCH (c:Category {category_id: row.category_id})
  MERGE (i)-[:IN_CATEGORY]->(c)
}
CALL (i, row) {
  WITH i, row WHERE row.set_brand
  OPTIONAL MATCH (i)-[old:BY_BRAND]->(:Brand)
  DELETE old
  WITH DISTINCT i, row WHERE row.brand_id IS NOT NULL
  MATCH (b:Brand {brand_id: row.brand_id})
  MERGE (i)-[:BY_BRAND]->(b)
}
RETURN count(*) AS upserted
"""

ITEM_PROPERTIES = ("title", "description", "price", "in_stock")


@dataclass(frozen=True)
class ItemRow:
    """One validated catalog entry. ``provided`` names the fields the client sent."""

    item_id: str
    title: str | None = None
    description: str | None = None
    category_path: tuple[str, ...] | None = None
    brand: str | None = None
    price: float | None = None
    in_stock: bool | None = None
    attributes: Mapping[str, str | int | float | bool] | None = None
    provided: frozenset[str] = field(default_factory=frozenset)


def slug(text: str) -> str:
    """A stable key from a display name: lower case, runs of non-alphanumerics as one dash."""
    return re.sub(r"[^0-9a-z]+", "-", text.strip().lower()).strip("-") or "_"


def category_ids(path: Sequence[str]) -> list[str]:
    """Keys of every level of a path, root first: ``a``, ``a/b``, ``a/b/c``."""
    keys, prefix = [], ""
    for name in path:
        prefix = f"{prefix}/{slug(name)}" if prefix else slug(name)
        keys.append(prefix)
    return keys


def category_rows(items: Sequence[ItemRow]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for item in items:
        path = item.category_path or ()
        keys = category_ids(path)
        for level, (key, name) in enumerate(zip(keys, path, strict=True)):
            parent = keys[level - 1] if level else None
            rows[key] = {
                "category_id": key,
                "name": name.strip(),
                "level": level,
                "path": [p.strip() for p in path[: level + 1]],
                "parent_id": parent,
            }
    return sorted(rows.values(), key=lambda r: (r["level"], r["category_id"]))


def brand_rows(items: Sequence[ItemRow]) -> list[dict[str, str]]:
    """One row per distinct brand of the batch, keyed by its slug."""
    brands = {slug(i.brand): i.brand.strip() for i in items if i.brand}
    return [{"brand_id": k, "name": v} for k, v in sorted(brands.items())]


def item_properties(item: ItemRow) -> dict[str, object]:
    """The node properties the client sent (a None value clears the stored one)."""
    props: dict[str, object] = {
        name: getattr(item, name) for name in ITEM_PROPERTIES if name in item.provided
    }
    if "attributes" in item.provided:
        # Neo4j properties cannot hold maps: keep the flat map as JSON text.
        props["attributes"] = (
            json.dumps(dict(item.attributes), sort_keys=True) if item.attributes else None
        )
    if "brand" in item.provided:
        props["brand_name"] = item.brand
    return props


def _item_params(item: ItemRow) -> dict[str, object]:
    props = item_properties(item)
    path = item.category_path or ()
    return {
        "item_id": item.item_id,
        "props": props,
        "set_category": "category_path" in item.provided,
        "category_id": category_ids(path)[-1] if path else None,
        "set_brand": "brand" in item.provided,
        "brand_id": slug(item.brand) if item.brand else None,
    }


def upsert_items_tx(tx: ManagedTransaction, items: Sequence[ItemRow]) -> int:
    categories = category_rows(items)
    if categories:
        tx.run(MERGE_CATEGORIES, rows=batch_rows(categories))
        tx.run(LINK_CATEGORY_PARENTS, rows=batch_rows(c for c in categories if c["parent_id"]))
    brands = brand_rows(items)
    if brands:
        tx.run(MERGE_BRANDS, rows=batch_rows(brands))
    record = tx.run(UPSERT_ITEMS, rows=batch_rows(_item_params(i) for i in items)).single()
    return int(record["upserted"]) if record else 0


def upsert_items(driver: Driver, items: Sequence[ItemRow], database: str | None = None) -> int:
    """Upsert a batch of items in one transaction; returns how many rows were applied."""
    if not items:
        return 0
    with causal_session(driver, database) as session:
        return session.execute_write(upsert_items_tx, items)


class Catalog(StoreArea):
    """The store's catalog operations, bound to its driver and database."""

    def upsert_items(self, items: Sequence[ItemRow]) -> int:
        """Upsert a batch of items in one transaction; returns how many rows were applied."""
        return upsert_items(self.driver, items, database=self.database)
