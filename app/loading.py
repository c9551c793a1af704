"""What ``interest-graph import`` and ``interest-graph demo`` do, above the CLI parsing."""

from __future__ import annotations

import sys
from pathlib import Path

from neo4j import Driver

from app.api.common import limits_from_settings
from app.importer import ImportStats, import_events, import_items
from app.settings import Settings
from app.sources.datasets import open_dataset
from app.sources.demo import demo_stream
from app.sources.files import count_records, read_events, read_items
from app.sources.stream import DatasetStream

COUNT_INTERACTIONS = "MATCH (x:Interaction) RETURN count(x) AS n"


def _report(kind: str, stats: ImportStats) -> str:
    return (
        f"{kind}: {stats.records} records in {stats.batches} batches, "
        f"{stats.created} stored, {stats.duplicates} already present"
    )


def load_stream(driver: Driver, settings: Settings, stream: DatasetStream, batch_size: int) -> str:
    """Items first (so events find their catalog entries), then events."""
    database = settings.neo4j_database
    items = import_items(
        driver, stream.items(), total=stream.approx_item_count(), database=database,
        batch_size=min(batch_size, 2000),
    )  # fmt: skip
    events = import_events(
        driver, stream.events(), settings.fold_config(), limits_from_settings(settings),
        batch_size=batch_size, total=stream.approx_event_count(), database=database,
    )  # fmt: skip
    return _report("items", items) + "\n" + _report("events", events)


def load_source(
    driver: Driver,
    settings: Settings,
    kind: str,
    source: str | None,
    path: Path | None,
    batch_size: int,
) -> str:
    """Dispatch ``import events|items FILE``, ``import dataset NAME [PATH]`` and ``import demo``."""
    if kind == "demo":
        return load_stream(driver, settings, demo_stream(), batch_size)
    if source is None:
        raise ValueError(f"import {kind} needs a {'NAME' if kind == 'dataset' else 'FILE'}")
    if kind == "dataset":
        return load_stream(driver, settings, open_dataset(source, path), batch_size)
    file = Path(source)
    if not file.exists():
        raise FileNotFoundError(f"no such file: {file}")
    if kind == "items":
        stats = import_items(
            driver, read_items(file), total=count_records(file), database=settings.neo4j_database
        )
        return _report("items", stats)
    stats = import_events(
        driver, read_events(file), settings.fold_config(), limits_from_settings(settings),
        batch_size=batch_size, total=count_records(file), database=settings.neo4j_database,
    )  # fmt: skip
    return _report("events", stats)


def run_demo(settings: Settings, serve_after: bool = True) -> int:
    """Start Neo4j, migrate, load the demo shop once, then serve the API."""
    from graphdb import server
    from graphdb.driver import connect
    from graphdb.migrations import migrate

    config = settings.server_config()
    print(f"starting Neo4j {config.version} ...", file=sys.stderr, flush=True)
    server.start(config)
    with connect(settings.neo4j_target()) as driver:
        migrate(driver, database=settings.neo4j_database)
        existing = driver.execute_query(COUNT_INTERACTIONS, database_=settings.neo4j_database)
        if existing.records[0]["n"] == 0:
            print(load_stream(driver, settings, demo_stream(), 5000), file=sys.stderr)
        else:
            print("graph already holds events: demo data not loaded again", file=sys.stderr)
    print(
        f"Neo4j Browser: {config.browser_url}  (user neo4j, password in {config.password_file})",
        file=sys.stderr,
    )
    if not serve_after:
        return 0
    from app.serving import serve

    return serve(settings)
