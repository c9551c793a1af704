"""Offline initial load: fold a whole history in Python and write it with ``neo4j-admin import``.

Transactional ingest is bounded by per-transaction work on the server; Neo4j's own answer
for a first load of millions of events is its offline importer, which writes the store
files directly. This module produces exactly the graph the online path would (same nodes,
properties and folded weights: both use ``graphdb.fold``), but only into an empty database
of the locally provisioned server, which must be stopped while it runs.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from graphdb.catalog import ItemRow, brand_rows, category_ids, category_rows, item_properties, slug
from graphdb.fold import EVENT_TYPES, EventRow, FoldConfig, fold_interactions, fold_interests
from graphdb.server import ServerConfig, run_admin_tool

ARRAY_DELIMITER = "\x1f"  # unit separator: never inside category names


@dataclass(frozen=True)
class BulkFiles:
    """(label or type, file) pairs in neo4j-admin's header format; each file has its header."""

    nodes: list[tuple[str, Path]]
    relationships: list[tuple[str, Path]]
    counts: dict[str, int]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Write a header and rows (None becomes an empty cell, which the importer skips)."""
    counter = _Counter(rows)
    with path.open("w", newline="", encoding="utf-8", buffering=1 << 20) as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(counter)
    return counter.count


class _Counter:
    """Counts rows as the csv writer pulls them, without a Python-level loop per row."""

    def __init__(self, rows: Iterable[Sequence[object]]) -> None:
        self._rows = iter(rows)
        self.count = 0

    def __iter__(self) -> Iterator[Sequence[object]]:
        for row in self._rows:
            self.count += 1
            yield row


def _item_nodes(
    items: Sequence[ItemRow], event_item_ids: set[str], now: str
) -> Iterator[list[object]]:
    catalog = {item.item_id for item in items}
    for item in items:
        props = item_properties(item)
        yield [
            item.item_id,
            props.get("title"),
            props.get("description"),
            props.get("price"),
            _bool(props.get("in_stock")),
            props.get("attributes"),
            props.get("brand_name"),
            "true",
            now,
            now,
        ]
    for item_id in sorted(event_item_ids - catalog):
        yield [item_id, None, None, None, None, None, None, "false", now, now]


def _bool(value: object) -> str | None:
    return None if value is None else ("true" if value else "false")


def _interaction_rows(
    events: Sequence[EventRow], config: FoldConfig, now: str
) -> Iterator[list[object]]:
    for e in events:
        yield [
            e.event_id,
            e.type,
            _iso(e.ts_ms),
            e.value,
            config.contribution(e.type, e.value),
            e.text,
            e.session_id,
            now,
        ]


def _interacted_rows(events: Sequence[EventRow], config: FoldConfig) -> Iterator[list[object]]:
    for row in fold_interactions(events, config):
        yield [
            row["user_id"],
            row["item_id"],
            row["weight"],
            row["count"],
            *(row[f"count_{t}"] for t in EVENT_TYPES),
            _iso(int(row["first_ms"])),
            _iso(int(row["last_ms"])),
        ]


def _interest_rows(
    events: Sequence[EventRow], targets: dict[str, list[str]], config: FoldConfig
) -> Iterator[list[object]]:
    for row in fold_interests(events, targets, config):
        yield [
            row["user_id"],
            row["target_id"],
            row["weight"],
            row["count"],
            _iso(int(row["last_ms"])),
        ]


def write_import_files(
    folder: Path, items: Sequence[ItemRow], events: Sequence[EventRow], config: FoldConfig
) -> BulkFiles:
    """Write every node and relationship file of the load into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    catalog = {item.item_id: item for item in items}
    leaf = {i.item_id: [category_ids(i.category_path)[-1]] for i in items if i.category_path}
    brand = {i.item_id: [slug(i.brand)] for i in items if i.brand}
    counts: dict[str, int] = {}
    f = folder.joinpath
    counts["User"] = _write(
        f("users.csv"),
        ["user_id:ID(User)", "created_at:datetime", "changed_at:datetime"],
        ([u, now, now] for u in sorted({e.user_id for e in events})),
    )
    counts["Item"] = _write(
        f("items.csv"),
        [
            "item_id:ID(Item)",
            "title",
            "description",
            "price:double",
            "in_stock:boolean",
            "attributes",
            "brand_name",
            "in_catalog:boolean",
            "created_at:datetime",
            "changed_at:datetime",
        ],
        _item_nodes(items, {e.item_id for e in events}, now),
    )
    cats = category_rows(items)
    counts["Category"] = _write(
        f("categories.csv"),
        ["category_id:ID(Category)", "name", "level:long", "path:string[]"],
        ([c["category_id"], c["name"], c["level"], ARRAY_DELIMITER.join(c["path"])] for c in cats),
    )
    counts["Brand"] = _write(
        f("brands.csv"),
        ["brand_id:ID(Brand)", "name"],
        ([b["brand_id"], b["name"]] for b in brand_rows(items)),
    )
    counts["Interaction"] = _write(
        f("interactions.csv"),
        [
            "event_id:ID(Interaction)",
            "type",
            "ts:datetime",
            "value:double",
            "weight:double",
            "text",
            "session_id",
            "ingested_at:datetime",
        ],
        _interaction_rows(events, config, now),
    )
    counts["PERFORMED"] = _write(
        f("performed.csv"),
        [":START_ID(User)", ":END_ID(Interaction)"],
        ([e.user_id, e.event_id] for e in events),
    )
    counts["ON"] = _write(
        f("on.csv"),
        [":START_ID(Interaction)", ":END_ID(Item)"],
        ([e.event_id, e.item_id] for e in events),
    )
    counts["IN_CATEGORY"] = _write(
        f("in_category.csv"),
        [":START_ID(Item)", ":END_ID(Category)"],
        ([i, c[0]] for i, c in sorted(leaf.items())),
    )
    counts["SUBCATEGORY_OF"] = _write(
        f("subcategory_of.csv"),
        [":START_ID(Category)", ":END_ID(Category)"],
        ([c["category_id"], c["parent_id"]] for c in cats if c["parent_id"]),
    )
    counts["BY_BRAND"] = _write(
        f("by_brand.csv"),
        [":START_ID(Item)", ":END_ID(Brand)"],
        ([i, b[0]] for i, b in sorted(brand.items()) if i in catalog),
    )
    counts["INTERACTED"] = _write(
        f("interacted.csv"),
        [
            ":START_ID(User)",
            ":END_ID(Item)",
            "weight:double",
            "count:long",
            *(f"count_{t}:long" for t in EVENT_TYPES),
            "first_ts:datetime",
            "last_ts:datetime",
        ],
        _interacted_rows(events, config),
    )
    interest_header = ["weight:double", "count:long", "last_ts:datetime"]
    counts["INTERESTED_IN_CATEGORY"] = _write(
        f("interest_category.csv"),
        [":START_ID(User)", ":END_ID(Category)", *interest_header],
        _interest_rows(events, leaf, config),
    )
    counts["INTERESTED_IN_BRAND"] = _write(
        f("interest_brand.csv"),
        [":START_ID(User)", ":END_ID(Brand)", *interest_header],
        _interest_rows(events, brand, config),
    )
    nodes = [
        ("User", f("users.csv")),
        ("Item", f("items.csv")),
        ("Category", f("categories.csv")),
        ("Brand", f("brands.csv")),
        ("Interaction", f("interactions.csv")),
    ]
    rels = [
        ("PERFORMED", f("performed.csv")),
        ("ON", f("on.csv")),
        ("IN_CATEGORY", f("in_category.csv")),
        ("SUBCATEGORY_OF", f("subcategory_of.csv")),
        ("BY_BRAND", f("by_brand.csv")),
        ("INTERACTED", f("interacted.csv")),
        ("INTERESTED_IN", f("interest_category.csv")),
        ("INTERESTED_IN", f("interest_brand.csv")),
    ]
    return BulkFiles(nodes=nodes, relationships=rels, counts=counts)


def run_admin_import(config: ServerConfig, files: BulkFiles, database: str = "neo4j") -> float:
    """Replace ``database`` with the files' contents (server stopped); returns seconds."""
    args = [
        "database",
        "import",
        "full",
        database,
        "--overwrite-destination=true",
        "--ignore-empty-strings=true",
        "--multiline-fields=true",
        "--array-delimiter=U+001F",
        "--id-type=string",
        f"--report-file={config.logs_dir / 'import.report'}",
    ]
    args += [f"--nodes={label}={path}" for label, path in files.nodes]
    args += [f"--relationships={kind}={path}" for kind, path in files.relationships]
    return run_admin_tool(config, *args)
