"""Offline initial load: fold a whole history with numpy and write it with ``neo4j-admin import``.

Transactional ingest is bounded by per-transaction work on the server; Neo4j's own answer
for a first load of millions of events is its offline importer, which writes the store
files directly. This module produces the graph the online path would (same nodes,
properties and folded weights: ``graphdb.bulkfold`` applies ``graphdb.fold``'s rule to
columns), but only into an empty database of the locally provisioned server, which must be
stopped while it runs.

Nodes get dense integer import ids (the opaque ids are ordinary properties): the importer
maps integers far faster than strings. Only files that really hold a line break are parsed
as multi-line, since multi-line parsing is the importer's slow path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from graphdb.bulkfold import EventColumns, FoldedPairs, factorize, fold_pairs
from graphdb.catalog import ItemRow, brand_rows, category_ids, category_rows, item_properties, slug
from graphdb.fold import EVENT_TYPES, FoldConfig
from graphdb.server import ServerConfig, run_admin_tool

ARRAY_DELIMITER = "\x1f"  # unit separator: never inside category names

Column = Sequence[str]


@dataclass
class BulkFiles:
    """(label or type, file) pairs in neo4j-admin's header format; each file has its header."""

    folder: Path
    nodes: list[tuple[str, Path]] = field(default_factory=list)
    relationships: list[tuple[str, Path]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    multiline: list[Path] = field(default_factory=list)

    def add(self, kind: str, name: str, header: Sequence[str], columns: Sequence[Column]) -> None:
        """Write one file; ``kind`` is a label (node file) or a type (relationship file)."""
        path = self.folder / name
        rows = len(columns[0])
        with path.open("w", encoding="utf-8", newline="") as handle:
            handle.write(",".join(header) + "\n")
            handle.writelines(map(_line, zip(*columns, strict=True)))
        is_node = not header[0].startswith(":START_ID")
        (self.nodes if is_node else self.relationships).append((kind, path))
        self.counts[kind] = self.counts.get(kind, 0) + rows
        if any(_has_line_break(column) for column in columns):
            self.multiline.append(path)


def _line(cells: tuple[str, ...]) -> str:
    return ",".join(cells) + "\n"


def _has_line_break(column: Column) -> bool:
    text = "".join(column)  # one C-level scan instead of a Python loop over every cell
    return "\n" in text or "\r" in text


def _codes(codes: np.ndarray) -> list[str]:
    return list(map(str, codes.tolist()))


def _numbers(values: np.ndarray) -> list[str]:
    """Doubles as the shortest text that reads back exactly; NaN (absent) as an empty cell."""
    cells = list(map(repr, values.tolist()))
    for index in np.flatnonzero(np.isnan(values)).tolist():
        cells[index] = ""
    return cells


def _texts(values: Sequence[object]) -> list[str]:
    """Quoted CSV strings (a quote doubled); None as an empty cell, which the importer skips."""
    return ["" if v is None else '"' + str(v).replace('"', '""') + '"' for v in values]


def _times(epoch_ms: np.ndarray) -> list[str]:
    stamps = np.datetime_as_string(epoch_ms.astype("datetime64[ms]"), unit="ms", timezone="UTC")
    return list(stamps.tolist())


def _same(value: str, rows: int) -> list[str]:
    return [value] * rows


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


def _write_catalog(files: BulkFiles, catalog: _Catalog, now: str) -> None:
    props = [item_properties(item) for item in catalog.items]
    extra = len(catalog.item_ids) - len(props)
    props += [{}] * extra

    def prop(name: str) -> list[str]:
        return _texts([p.get(name) for p in props])

    price = np.array([np.nan if p.get("price") is None else p["price"] for p in props], float)
    stock = [p.get("in_stock") for p in props]
    files.add("Item", "items.csv", [
        ":ID(Item)", "item_id", "title", "description", "price:double", "in_stock:boolean",
        "attributes", "brand_name", "in_catalog:boolean", "created_at:datetime",
        "changed_at:datetime", "catalog_updated_at:datetime",
    ], [
        _codes(np.arange(len(props))), _texts(catalog.item_ids), prop("title"),
        prop("description"), _numbers(price),
        ["" if s is None else ("true" if s else "false") for s in stock], prop("attributes"),
        prop("brand_name"), _same("true", len(catalog.items)) + _same("false", extra),
        _same(now, len(props)), _same(now, len(props)),
        _same(now, len(catalog.items)) + _same("", extra),
    ])  # fmt: skip
    cats = catalog.categories
    files.add("Category", "categories.csv",
        [":ID(Category)", "category_id", "name", "level:long", "path:string[]"], [
        _codes(np.arange(len(cats))), _texts([c["category_id"] for c in cats]),
        _texts([c["name"] for c in cats]), [str(c["level"]) for c in cats],
        _texts([ARRAY_DELIMITER.join(c["path"]) for c in cats]),  # type: ignore[arg-type]
    ])  # fmt: skip
    brands = catalog.brands
    files.add("Brand", "brands.csv", [":ID(Brand)", "brand_id", "name"], [
        _codes(np.arange(len(brands))), _texts([b["brand_id"] for b in brands]),
        _texts([b["name"] for b in brands]),
    ])  # fmt: skip
    _write_catalog_links(files, catalog)


def _write_catalog_links(files: BulkFiles, catalog: _Catalog) -> None:
    code_of = {c["category_id"]: k for k, c in enumerate(catalog.categories)}
    parents = [(k, code_of[c["parent_id"]]) for k, c in enumerate(catalog.categories)
               if c["parent_id"]]  # fmt: skip
    files.add("SUBCATEGORY_OF", "subcategory_of.csv", [":START_ID(Category)", ":END_ID(Category)"],
              [[str(k) for k, _ in parents], [str(p) for _, p in parents]])  # fmt: skip
    for kind, name, target, codes in (
        ("IN_CATEGORY", "in_category.csv", "Category", catalog.leaf_of_item),
        ("BY_BRAND", "by_brand.csv", "Brand", catalog.brand_of_item),
    ):
        linked = np.flatnonzero(codes >= 0)
        files.add(kind, name, [":START_ID(Item)", f":END_ID({target})"],
                  [_codes(linked), _codes(codes[linked])])  # fmt: skip


def _write_events(
    files: BulkFiles, events: EventColumns, users: np.ndarray, items: np.ndarray, now: str
) -> None:
    n = len(events)
    ids = _codes(np.arange(n))
    files.add("Interaction", "interactions.csv", [
        ":ID(Interaction)", "event_id", "type", "ts:datetime", "value:double", "weight:double",
        "text", "sentiment:double", "session_id", "ingested_at:datetime",
    ], [
        ids, _texts(events.event_id), [EVENT_TYPES[t] for t in events.type_code.tolist()],
        _times(events.ts_ms), _numbers(events.value), _numbers(events.contribution),
        _texts(events.text), _numbers(events.sentiment), _texts(events.session_id),
        _same(now, n),
    ])  # fmt: skip
    files.add("PERFORMED", "performed.csv", [":START_ID(User)", ":END_ID(Interaction)"],
              [_codes(users), ids])  # fmt: skip
    files.add("ON", "on.csv", [":START_ID(Interaction)", ":END_ID(Item)"], [ids, _codes(items)])


def _write_folded(
    files: BulkFiles, kind: str, name: str, target: str, folded: FoldedPairs, extra: list[Column]
) -> None:
    """An edge file of folded pairs; INTERACTED also carries per-type counts and first_ts."""
    header = [":START_ID(User)", f":END_ID({target})", "weight:double", "count:long",
              "last_ts:datetime"]  # fmt: skip
    columns: list[Column] = [_codes(folded.left), _codes(folded.right), _numbers(folded.weight),
                             _codes(folded.count), _times(folded.last_ms)]  # fmt: skip
    if kind == "INTERACTED":
        header += [f"count_{t}:long" for t in EVENT_TYPES] + [
            "first_ts:datetime",
            "updated_at:datetime",
        ]
        columns += [_codes(folded.type_counts[:, k]) for k in range(len(EVENT_TYPES))]
        columns += [_times(folded.first_ms), *extra]
    files.add(kind, name, header, columns)


def write_import_files(
    folder: Path, items: Sequence[ItemRow], events: EventColumns, config: FoldConfig
) -> BulkFiles:
    """Write every node and relationship file of the load into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = _times(np.array([int(datetime.now(UTC).timestamp() * 1000)]))[0]
    files = BulkFiles(folder)
    users, user_ids = factorize(events.user_id)
    files.add("User", "users.csv",
              [":ID(User)", "user_id", "created_at:datetime", "changed_at:datetime"],
              [_codes(np.arange(len(user_ids))), _texts(user_ids), _same(now, len(user_ids)),
               _same(now, len(user_ids))])  # fmt: skip
    catalog = _Catalog.build(items, events.item_id)
    item_code = {item_id: k for k, item_id in enumerate(catalog.item_ids)}
    event_items = np.fromiter(map(item_code.__getitem__, events.item_id), np.int64, len(events))
    _write_catalog(files, catalog, now)
    _write_events(files, events, users, event_items, now)
    interacted = fold_pairs(users, event_items, events, config)
    _write_folded(files, "INTERACTED", "interacted.csv", "Item", interacted,
                  [_same(now, len(interacted.weight))])  # fmt: skip
    for target, name, of_item in (
        ("Category", "interest_category.csv", catalog.leaf_of_item),
        ("Brand", "interest_brand.csv", catalog.brand_of_item),
    ):
        targets = of_item[event_items]
        folded = fold_pairs(users, targets, events, config, selected=targets >= 0)
        _write_folded(files, "INTERESTED_IN", name, target, folded, [])
    return files


def run_admin_import(config: ServerConfig, files: BulkFiles, database: str = "neo4j") -> float:
    """Replace ``database`` with the files' contents (server stopped); returns seconds."""
    args = [
        "database", "import", "full", database,
        "--overwrite-destination=true", "--ignore-empty-strings=true",
        "--array-delimiter=U+001F", "--id-type=integer",
        f"--report-file={config.logs_dir / 'import.report'}",
    ]  # fmt: skip
    if files.multiline:
        args += ["--multiline-fields-format=v2",
                 "--multiline-fields=" + ",".join(str(p) for p in files.multiline)]  # fmt: skip
    args += [f"--nodes={label}={path}" for label, path in files.nodes]
    args += [f"--relationships={kind}={path}" for kind, path in files.relationships]
    return run_admin_tool(config, *args)
