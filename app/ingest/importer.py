"""Bulk import: stream dicts (from files, datasets or the demo generator) into the graph.

Records go through the same validation as HTTP intake, in chunks; each chunk is one
all-or-nothing transaction, and event ids make a re-run of the same input a no-op.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any, TypeVar

from tqdm import tqdm

from app.ingest.validation import (
    FieldProblem,
    IntakeLimits,
    InvalidInput,
    parse_events,
    parse_items,
)
from graphdb.fold import FoldConfig
from graphdb.ingest import IngestResult
from graphdb.store import GraphStore

T = TypeVar("T")


@dataclass
class ImportStats:
    records: int = 0
    created: int = 0
    duplicates: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)


def chunked(records: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def offset_error(exc: InvalidInput, offset: int, what: str) -> InvalidInput:
    """Re-number problems from chunk positions to positions in the whole input."""
    shifted = [
        FieldProblem(None if p.index is None else p.index + offset, p.field, p.message)
        for p in exc.problems
    ]
    return InvalidInput(shifted, what=what)


def import_events(
    store: GraphStore,
    records: Iterable[dict[str, Any]],
    fold: FoldConfig,
    limits: IntakeLimits,
    *,
    batch_size: int = 5000,
    total: int | None = None,
    progress: bool = True,
    writers: int = 3,
) -> ImportStats:
    """Validate and write events in batches; stops at the first invalid batch.

    Up to ``writers`` batches are in flight at once: while the server applies one
    transaction the next is validated and sent, which roughly doubles throughput on two
    cores. Concurrent batches may touch the same users or items; a deadlock between them is a
    transient error that the managed transaction retries.
    """
    stats = ImportStats()
    chunk_limits = IntakeLimits(
        batch_size, limits.max_text_chars, limits.max_future_skew_s, limits.min_event_year
    )
    with (
        tqdm(total=total, unit="ev", disable=not progress, desc="events") as bar,
        ThreadPoolExecutor(max_workers=max(writers, 1)) as pool,
    ):
        in_flight: deque[tuple[int, Future[IngestResult]]] = deque()
        offset = 0
        for chunk in chunked(records, batch_size):
            try:
                rows = parse_events(chunk, chunk_limits)
            except InvalidInput as exc:
                _drain(in_flight, stats, bar, 0)
                raise offset_error(exc, offset, "event") from None
            offset += len(chunk)
            in_flight.append((len(chunk), pool.submit(store.events.write_events, rows, fold)))
            _drain(in_flight, stats, bar, max(writers, 1) - 1)
        _drain(in_flight, stats, bar, 0)
    return stats


def _drain(
    in_flight: deque[tuple[int, Future[IngestResult]]], stats: ImportStats, bar: tqdm, keep: int
) -> None:
    """Wait for the oldest batches until at most ``keep`` are still in flight."""
    while len(in_flight) > keep:
        size, future = in_flight.popleft()
        result = future.result()
        stats.records += size
        stats.created += result.created
        stats.duplicates += result.duplicates
        stats.batches += 1
        bar.update(size)


def import_items(
    store: GraphStore,
    records: Iterable[dict[str, Any]],
    *,
    batch_size: int = 2000,
    total: int | None = None,
    progress: bool = True,
    limits: IntakeLimits | None = None,
) -> ImportStats:
    """Validate and upsert catalog items in batches.

    ``limits`` (default: the settings' defaults) bound each record as ``PUT /api/v1/items``
    would, except the batch size, which is ``batch_size`` here.
    """
    stats = ImportStats()
    limits = replace(limits or IntakeLimits(), max_batch=batch_size)
    with tqdm(total=total, unit="item", disable=not progress, desc="items") as bar:
        for chunk in chunked(records, batch_size):
            try:
                rows = parse_items(chunk, limits)
            except InvalidInput as exc:
                raise offset_error(exc, stats.records, "item") from None
            stats.created += store.catalog.upsert_items(rows)
            stats.records += len(chunk)
            stats.batches += 1
            bar.update(len(chunk))
    return stats
