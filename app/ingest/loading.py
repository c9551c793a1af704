"""What ``interest-graph import`` and ``interest-graph demo`` do, above the CLI parsing."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from app.ingest.import_failure import Numbered
from app.ingest.importer import ImportStats, chunked, import_events, import_items
from app.ingest.sources.datasets import open_dataset
from app.ingest.sources.demo import DemoShape
from app.ingest.sources.files import Kind, count_records, read_numbered_records
from app.ingest.sources.stream import DatasetStream
from app.ingest.validation import IntakeLimits, limits_from_settings, parse_items
from app.settings import Settings
from graphdb.catalog import ItemRow
from graphdb.local.bulkload import BulkFiles
from graphdb.store import GraphStore


def _report(kind: str, stats: ImportStats) -> str:
    return (
        f"{kind}: {stats.records} records in {stats.batches} batches, "
        f"{stats.created} stored, {stats.duplicates} already present"
    )


def load_stream(
    store: GraphStore, settings: Settings, stream: DatasetStream, batch_size: int
) -> str:
    """Items first (so events find their catalog entries), then events."""
    items = import_items(
        store, stream.items(), total=stream.approx_item_count(),
        batch_size=min(batch_size, 2000), limits=limits_from_settings(settings),
    )  # fmt: skip
    events = import_events(
        store, stream.events(), settings.fold_config(), limits_from_settings(settings),
        batch_size=batch_size, total=stream.approx_event_count(),
    )  # fmt: skip
    return _report("items", items) + "\n" + _report("events", events)


def open_source(
    kind: str, source: str | None, path: Path | None, demo: DemoShape | None = None
) -> DatasetStream:
    """The stream behind ``import demo`` (of ``demo``'s size) or ``import dataset NAME [PATH]``."""
    if kind == "demo":
        return (demo or DemoShape()).stream()
    if kind == "dataset" and source:
        return open_dataset(source, path)
    raise ValueError("--offline takes `import dataset NAME [PATH]` or `import demo`")


def _existing_file(kind: str, source: str) -> Path:
    file = Path(source)
    if not file.is_file():
        where = f" (looked for {file.resolve()})" if not file.is_absolute() else ""
        raise FileNotFoundError(f"{kind} file not found: {file}{where}")
    return file


def check_source(kind: str, source: str | None, path: Path | None) -> None:
    """Fail on a missing file or dataset before the command connects to the graph."""
    if kind == "dataset" and source:
        open_dataset(source, path)
    elif kind in ("events", "items") and source:
        _existing_file(kind, source)


def load_source(
    store: GraphStore,
    settings: Settings,
    kind: str,
    source: str | None,
    path: Path | None,
    batch_size: int,
    demo: DemoShape | None = None,
) -> str:
    """Dispatch ``import events|items FILE``, ``import dataset NAME [PATH]`` and ``import demo``."""
    if kind == "demo" or (kind == "dataset" and source):
        return load_stream(store, settings, open_source(kind, source, path, demo), batch_size)
    if source is None:
        raise ValueError(f"import {kind} needs a {'NAME' if kind == 'dataset' else 'FILE'}")
    file = _existing_file(kind, source)
    file_kind: Kind = "items" if kind == "items" else "events"
    records = Numbered(read_numbered_records(file, file_kind), unit="line", source=str(file))
    if kind == "items":
        stats = import_items(
            store, records, total=count_records(file), limits=limits_from_settings(settings),
        )  # fmt: skip
        return _report("items", stats)
    stats = import_events(
        store, records, settings.fold_config(), limits_from_settings(settings),
        batch_size=batch_size, total=count_records(file),
    )  # fmt: skip
    return _report("events", stats)


def _validated_items(stream: DatasetStream, limits: IntakeLimits) -> list[ItemRow]:
    """Every catalog record through the same validation as ``PUT /api/v1/items``."""
    limits = replace(limits, max_batch=50_000)
    return [row for chunk in chunked(stream.items(), 50_000) for row in parse_items(chunk, limits)]


@dataclass(frozen=True)
class OfflineLoadReport:
    events: int
    items: int
    seconds: float
    validate_s: float
    files_s: float
    import_s: float
    restart_s: float
    schema_s: float
    counts: dict[str, int]

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    def summary(self) -> str:
        return (
            f"offline load: {self.events} events, {self.items} catalog items "
            f"in {self.seconds:.1f}s "
            f"({self.events_per_s:,.0f} events/s; validation {self.validate_s:.1f}s, files "
            f"{self.files_s:.1f}s, neo4j-admin import {self.import_s:.1f}s, restart "
            f"{self.restart_s:.1f}s, schema {self.schema_s:.1f}s)\n"
            + ", ".join(f"{k}={v}" for k, v in self.counts.items())
        )


def _require_empty_graph(settings: Settings) -> None:
    store = GraphStore.connect(settings.neo4j_target())
    try:
        if store.events.count_data_nodes():
            raise ValueError(
                "--offline loads only into an empty graph; use the online import instead"
            )
    finally:
        store.close()


def _import_files(
    settings: Settings, stream: DatasetStream, folder: Path
) -> tuple[BulkFiles, int, float]:
    """Validate the source and write the importer's files; the server stops meanwhile.

    Returns the files, the number of catalog items and the seconds validation took.

    The shutdown (a checkpoint, seconds) overlaps validation and file writing instead of
    adding to them. Bad input restarts the server before the error goes up: the graph is back
    as it was, running and empty.
    """
    from app.ingest.parallel_validation import validate_events
    from graphdb.local import server
    from graphdb.local.bulkload import write_import_files

    config = settings.server_config()
    stopping = server.request_stop(config)
    started = time.perf_counter()
    try:
        items = _validated_items(stream, limits_from_settings(settings))
        events = validate_events(stream, limits_from_settings(settings), settings.fold_config())
        validate_s = time.perf_counter() - started
        files = write_import_files(folder, items, events, settings.fold_config())
    except BaseException:
        if stopping is not None:
            server.wait_stopped(config, stopping)
            server.start(config)
        raise
    if stopping is not None:
        server.wait_stopped(config, stopping)
    return files, len(items), validate_s


def offline_load(settings: Settings, stream: DatasetStream) -> OfflineLoadReport:
    """Bulk-load into an EMPTY local graph with neo4j-admin import (server stopped meanwhile).

    The clock covers everything a user waits for: validation, folding, files, the import,
    the restart and the schema migrations.
    """
    from graphdb.local import server
    from graphdb.local.bulkload import run_admin_import

    config = settings.server_config()
    server.start(config)
    _require_empty_graph(settings)
    started = time.perf_counter()
    folder = config.state_dir / "import" / f"bulk-{int(time.time())}"
    files, items, validate_s = _import_files(settings, stream, folder)
    prepared_s = time.perf_counter() - started
    try:
        import_s = run_admin_import(config, files, settings.neo4j_database)
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        restarting = time.perf_counter()
        server.start(config)  # the graph must come back even when the import failed
    restart_s = time.perf_counter() - restarting
    store = GraphStore.connect(settings.neo4j_target())
    try:
        store.migrations.migrate()
    finally:
        store.close()
    seconds = time.perf_counter() - started
    return OfflineLoadReport(
        events=files.counts.get("Interaction", 0), items=items, seconds=seconds,
        validate_s=validate_s, files_s=prepared_s - validate_s,
        import_s=import_s, restart_s=restart_s,
        schema_s=seconds - (restarting - started) - restart_s, counts=files.counts,
    )  # fmt: skip
