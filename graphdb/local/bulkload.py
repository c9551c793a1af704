"""Offline initial load: fold a whole history with numpy and write it with ``neo4j-admin import``.

Transactional ingest is bounded by per-transaction work on the server; Neo4j's own answer
for a first load of millions of events is its offline importer, which writes the store
files directly. This module produces the graph the online path would (same nodes,
properties and folded weights: ``graphdb.bulkfold`` applies ``graphdb.fold``'s rule to
columns), but only into an empty database of the locally provisioned server, which must be
stopped while it runs.

The files are Parquet, not CSV: typed columns go from numpy to the importer without being
printed and parsed again (CSV cost the importer a regular expression per timestamp), and
text needs no quoting, so line breaks inside values are no special case. Nodes carry their
final node ids (``--id-type=actual``, handed out file after file), so the importer has no
id mapping to build or search; the opaque ids are ordinary properties.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from graphdb.bulkfold import EventColumns, FoldedPairs, factorize, fold_pairs
from graphdb.catalog import ItemRow, brand_rows, category_ids, category_rows, item_properties, slug
from graphdb.fold import EVENT_TYPES, FoldConfig
from graphdb.local.server import ServerConfig, run_admin_tool

TIMESTAMP = pa.timestamp("ms", tz="UTC")  # read back as a UTC datetime, as the online path stores

Columns = Mapping[str, pa.Array]


@dataclass
class BulkFiles:
    """(label or type, file) pairs for neo4j-admin, and the node id each label starts at."""

    folder: Path
    nodes: list[tuple[str, Path]] = field(default_factory=list)
    relationships: list[tuple[str, Path]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    first_id: dict[str, int] = field(default_factory=dict)
    next_id: int = 0

    def add_nodes(self, label: str, name: str, rows: int, columns: Columns) -> None:
        """Write one node file (none for no rows); its nodes get the next ``rows`` node ids."""
        self.first_id[label] = self.next_id
        ids = np.arange(self.next_id, self.next_id + rows, dtype=np.int64)
        self.next_id += rows
        if rows:  # an empty file would only give the importer one more file to inspect
            self.nodes.append((label, self._write(name, {":ID": pa.array(ids), **columns})))
        self.counts[label] = self.counts.get(label, 0) + rows

    def node_ids(self, label: str, codes: np.ndarray) -> np.ndarray:
        """Node ids of ``label``'s nodes at positions ``codes`` of its file."""
        return self.first_id[label] + np.asarray(codes, dtype=np.int64)

    def add_relationships(
        self, kind: str, name: str, start: np.ndarray, end: np.ndarray, columns: Columns
    ) -> None:
        """Write one relationship file between node ids ``start[k]`` and ``end[k]``."""
        table = {":START_ID": pa.array(start, pa.int64()), ":END_ID": pa.array(end, pa.int64())}
        if len(start):
            self.relationships.append((kind, self._write(name, {**table, **columns})))
        self.counts[kind] = self.counts.get(kind, 0) + len(start)

    def _write(self, name: str, columns: Columns) -> Path:
        path = self.folder / f"{name}.parquet"
        # Uncompressed: the file is read once, from local disk, by a CPU-bound importer.
        pq.write_table(pa.table(dict(columns)), path, compression="none")
        return path


def _texts(values: Sequence[object]) -> pa.Array:
    """Strings; None and "" become absent properties (CSV's ``--ignore-empty-strings``)."""
    return pa.array([None if v is None or v == "" else str(v) for v in values], pa.string())


def _numbers(values: np.ndarray) -> pa.Array:
    """Doubles; NaN (absent) becomes an absent property."""
    values = np.asarray(values, dtype=np.float64)
    return pa.array(values, pa.float64(), mask=np.isnan(values))


def _longs(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64), pa.int64())


def _times(epoch_ms: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(epoch_ms, dtype=np.int64), TIMESTAMP)


def _same_time(epoch_ms: int, rows: int, present: int | None = None) -> pa.Array:
    """``epoch_ms`` on the first ``present`` rows (all by default), absent on the rest."""
    stamps = np.full(rows, epoch_ms, dtype=np.int64)
    mask = np.arange(rows) >= (rows if present is None else present)
    return pa.array(stamps, TIMESTAMP, mask=mask)


@dataclass(frozen=True)
class _Catalog:
    """Item, category and brand codes: catalog items first (last entry wins), then the rest."""

    items: list[ItemRow]
    item_ids: list[str]
    leaf_of_item: np.ndarray  # category code per item code, -1 for none
    brand_of_item: np.ndarray
    categories: list[dict[str, object]]
    brands: list[dict[str, str]]

    @classmethod
    def build(cls, items: Sequence[ItemRow], event_item_ids: list[str]) -> _Catalog:
        unique = list({item.item_id: item for item in items}.values())
        known = {item.item_id for item in unique}
        extra = sorted(set(event_item_ids) - known)
        categories, brands = category_rows(unique), brand_rows(unique)
        category_code = {str(c["category_id"]): k for k, c in enumerate(categories)}
        brand_code = {b["brand_id"]: k for k, b in enumerate(brands)}
        leaf = np.full(len(unique) + len(extra), -1, dtype=np.int64)
        brand = leaf.copy()
        for code, item in enumerate(unique):
            if item.category_path:
                leaf[code] = category_code[category_ids(item.category_path)[-1]]
            if item.brand:
                brand[code] = brand_code[slug(item.brand)]
        return cls(unique, [i.item_id for i in unique] + extra, leaf, brand, categories, brands)


def _write_catalog(files: BulkFiles, catalog: _Catalog, now_ms: int) -> None:
    props = [item_properties(item) for item in catalog.items]
    props += [{}] * (len(catalog.item_ids) - len(props))
    rows = len(props)

    def prop(name: str) -> pa.Array:
        return _texts([p.get(name) for p in props])

    price = np.array([np.nan if p.get("price") is None else p["price"] for p in props], float)
    files.add_nodes("Item", "items", rows, {
        "item_id": _texts(catalog.item_ids), "title": prop("title"),
        "description": prop("description"), "price": _numbers(price),
        "in_stock": pa.array([p.get("in_stock") for p in props], pa.bool_()),
        "attributes": prop("attributes"), "brand_name": prop("brand_name"),
        "in_catalog": pa.array(np.arange(rows) < len(catalog.items)),
        "created_at": _same_time(now_ms, rows), "changed_at": _same_time(now_ms, rows),
        "catalog_updated_at": _same_time(now_ms, rows, present=len(catalog.items)),
    })  # fmt: skip
    cats = catalog.categories
    files.add_nodes("Category", "categories", len(cats), {
        "category_id": _texts([c["category_id"] for c in cats]),
        "name": _texts([c["name"] for c in cats]),
        "level": _longs(np.array([c["level"] for c in cats], dtype=np.int64)),
        "path": pa.array([list(c["path"]) for c in cats], pa.list_(pa.string())),  # type: ignore[call-overload]
    })  # fmt: skip
    brands = catalog.brands
    files.add_nodes("Brand", "brands", len(brands), {
        "brand_id": _texts([b["brand_id"] for b in brands]),
        "name": _texts([b["name"] for b in brands]),
    })  # fmt: skip
    _write_catalog_links(files, catalog)


def _write_catalog_links(files: BulkFiles, catalog: _Catalog) -> None:
    code_of = {c["category_id"]: k for k, c in enumerate(catalog.categories)}
    pairs = np.array(
        [(k, code_of[c["parent_id"]]) for k, c in enumerate(catalog.categories) if c["parent_id"]],
        dtype=np.int64,
    ).reshape(-1, 2)
    files.add_relationships(
        "SUBCATEGORY_OF", "subcategory_of", files.node_ids("Category", pairs[:, 0]),
        files.node_ids("Category", pairs[:, 1]), {},
    )  # fmt: skip
    for kind, name, target, codes in (
        ("IN_CATEGORY", "in_category", "Category", catalog.leaf_of_item),
        ("BY_BRAND", "by_brand", "Brand", catalog.brand_of_item),
    ):
        linked = np.flatnonzero(codes >= 0)
        files.add_relationships(
            kind, name, files.node_ids("Item", linked), files.node_ids(target, codes[linked]), {}
        )


def _write_events(
    files: BulkFiles, events: EventColumns, users: np.ndarray, items: np.ndarray, now_ms: int
) -> None:
    rows = len(events)
    type_names = np.array(EVENT_TYPES, dtype=object)[events.type_code]
    files.add_nodes("Interaction", "interactions", rows, {
        "event_id": _texts(events.event_id), "type": pa.array(type_names, pa.string()),
        "ts": _times(events.ts_ms), "value": _numbers(events.value),
        "weight": _numbers(events.contribution), "text": _texts(events.text),
        "sentiment": _numbers(events.sentiment), "session_id": _texts(events.session_id),
        "ingested_at": _same_time(now_ms, rows),
    })  # fmt: skip
    interactions = files.node_ids("Interaction", np.arange(rows))
    performers = files.node_ids("User", users)
    files.add_relationships("PERFORMED", "performed", performers, interactions, {})
    files.add_relationships("ON", "on", interactions, files.node_ids("Item", items), {})


def _write_folded(
    files: BulkFiles, kind: str, name: str, target: str, folded: FoldedPairs, now_ms: int
) -> None:
    """An edge file of folded pairs; INTERACTED also carries per-type counts and first_ts."""
    columns = {
        "weight": _numbers(folded.weight), "count": _longs(folded.count),
        "last_ts": _times(folded.last_ms),
    }  # fmt: skip
    if kind == "INTERACTED":
        for k, event_type in enumerate(EVENT_TYPES):
            columns[f"count_{event_type}"] = _longs(folded.type_counts[:, k])
        columns["first_ts"] = _times(folded.first_ms)
        columns["updated_at"] = _same_time(now_ms, len(folded.weight))
    start, end = files.node_ids("User", folded.left), files.node_ids(target, folded.right)
    files.add_relationships(kind, name, start, end, columns)


def write_import_files(
    folder: Path, items: Sequence[ItemRow], events: EventColumns, config: FoldConfig
) -> BulkFiles:
    """Write every node and relationship file of the load into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    files = BulkFiles(folder)
    users, user_ids = factorize(events.user_id)
    files.add_nodes("User", "users", len(user_ids), {
        "user_id": _texts(user_ids), "created_at": _same_time(now_ms, len(user_ids)),
        "changed_at": _same_time(now_ms, len(user_ids)),
    })  # fmt: skip
    catalog = _Catalog.build(items, events.item_id)
    item_code = {item_id: k for k, item_id in enumerate(catalog.item_ids)}
    event_items = np.fromiter(map(item_code.__getitem__, events.item_id), np.int64, len(events))
    _write_catalog(files, catalog, now_ms)
    _write_events(files, events, users, event_items, now_ms)
    interacted = fold_pairs(users, event_items, events, config)
    _write_folded(files, "INTERACTED", "interacted", "Item", interacted, now_ms)
    for target, name, of_item in (
        ("Category", "interest_category", catalog.leaf_of_item),
        ("Brand", "interest_brand", catalog.brand_of_item),
    ):
        targets = of_item[event_items]
        folded = fold_pairs(users, targets, events, config, selected=targets >= 0)
        _write_folded(files, "INTERESTED_IN", name, target, folded, now_ms)
    return files


def run_admin_import(config: ServerConfig, files: BulkFiles, database: str = "neo4j") -> float:
    """Replace ``database`` with the files' contents (server stopped); returns seconds."""
    args = [
        "database", "import", "full", database, "--overwrite-destination=true",
        "--input-type=parquet", "--id-type=actual",
        f"--report-file={config.logs_dir / 'import.report'}",
    ]  # fmt: skip
    args += [f"--nodes={label}={path}" for label, path in files.nodes]
    args += [f"--relationships={kind}={path}" for kind, path in files.relationships]
    return run_admin_tool(config, *args)
