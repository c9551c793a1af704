"""Bulk import: stream dicts (from files, datasets or the demo generator) into the graph.

Records go through the same validation as HTTP intake, in chunks; each chunk is one
all-or-nothing transaction, and event ids make a re-run of the same input a no-op.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import islice
from typing import Any, TypeVar

from tqdm import tqdm

from app.ingest.import_failure import ImportFailed, Numbered, StoredBatches, located_problems
from app.ingest.sources.files import SourceFormatError
from app.ingest.validation import (
    FieldProblem,
    IntakeLimits,
    InvalidInput,
    parse_events,
    parse_items,
)
from graphdb.fold import EventRow, FoldConfig
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


Writer = Callable[[], tuple[int, int]]  # one batch's write: (created, already present)


def _numbered(records: Iterable[dict[str, Any]] | Numbered) -> Numbered:
    """Records numbered from 1 unless they come with their file's line numbers."""
    return records if isinstance(records, Numbered) else Numbered(enumerate(records, start=1))


class _Batches:
    """Writes batches (up to ``writers`` at once) and keeps account of what was stored.

    A failed write does not stop the others already in flight: they are waited for and
    counted, so the report of what was stored is true.
    """

    def __init__(self, what: str, source: Numbered, stats: ImportStats, bar: tqdm, writers: int):
        self.what, self.source, self.stats, self.bar = what, source, stats, bar
        self.stored = StoredBatches()
        self._pool = ThreadPoolExecutor(max_workers=max(writers, 1))
        self._keep = max(writers, 1) - 1
        self._in_flight: deque[tuple[int, list[int], int, Future[tuple[int, int]]]] = deque()
        self._failure: BaseException | None = None
        self._submitted = 0

    def submit(self, lines: list[int], unkeyed: int, write: Writer) -> None:
        self._in_flight.append((self._submitted, lines, unkeyed, self._pool.submit(write)))
        self._submitted += 1
        self._drain(self._keep)

    def finish(self) -> None:
        self._drain(0)
        self._pool.shutdown()

    def fail(self, problems: list[str], cause: BaseException | None = None) -> ImportFailed:
        self.finish()
        return ImportFailed(self.what, self.source, problems, self.stored, cause)

    def _drain(self, keep: int) -> None:
        while len(self._in_flight) > (0 if self._failure else keep):
            number, lines, unkeyed, future = self._in_flight.popleft()
            try:
                created, duplicates = future.result()
            except Exception as exc:  # reported below, with what was stored
                self._failure = self._failure or exc
                continue
            self.stored.add(number, lines, unkeyed)
            self.stats.records += len(lines)
            self.stats.created += created
            self.stats.duplicates += duplicates
            self.stats.batches += 1
            self.bar.update(len(lines))
        if self._failure is not None and not self._in_flight:
            failure, self._failure = self._failure, None
            self._pool.shutdown()
            message = f"writing a batch failed: {failure}"
            raise ImportFailed(self.what, self.source, [message], self.stored, failure)


# Validates one chunk; the flag says whether its rows will be stored (else only checked).
Validator = Callable[[list[dict[str, Any]], bool], Any]


def _format_problem(exc: SourceFormatError, source: Numbered) -> str:
    where = f"line {exc.line}" if exc.path == source.source else f"{exc.path}:{exc.line}"
    return f"{where}: {exc.message}"


def _remaining_problems(
    chunks: Iterator[list[tuple[int, dict[str, Any]]]], validate: Validator, source: Numbered
) -> list[str]:
    """Check the rest of the input without storing it, so one run names every problem."""
    problems: list[str] = []
    try:
        for chunk in chunks:
            try:
                validate([record for _, record in chunk], False)
            except InvalidInput as exc:
                problems += located_problems(exc, [line for line, _ in chunk], source.unit)
    except SourceFormatError as exc:
        problems.append(_format_problem(exc, source) + " (what follows was not checked)")
    return problems


def _run_import(
    batches: _Batches,
    batch_size: int,
    validate: Validator,
    writer: Callable[[Any], tuple[int, int]],
    unkeyed: Callable[[list[dict[str, Any]]], int],
) -> None:
    """Validate and write chunk by chunk; the first bad chunk stops writing, not checking."""
    source = batches.source
    chunks = chunked(source.pairs, batch_size)
    try:
        for chunk in chunks:
            lines, records = [line for line, _ in chunk], [record for _, record in chunk]
            try:
                rows = validate(records, True)
            except InvalidInput as exc:
                problems = located_problems(exc, lines, source.unit)
                problems += _remaining_problems(chunks, validate, source)
                raise batches.fail(problems) from None
            batches.submit(lines, unkeyed(records), partial(writer, rows))
    except SourceFormatError as exc:
        raise batches.fail([_format_problem(exc, source)]) from None
    batches.finish()


def import_events(
    store: GraphStore,
    records: Iterable[dict[str, Any]] | Numbered,
    fold: FoldConfig,
    limits: IntakeLimits,
    *,
    batch_size: int = 5000,
    total: int | None = None,
    progress: bool = True,
    writers: int = 3,
) -> ImportStats:
    """Validate and write events in batches; stops writing at the first invalid batch.

    Up to ``writers`` batches are in flight at once: while the server applies one
    transaction the next is validated and sent, which roughly doubles throughput on two
    cores. Concurrent batches may touch the same users or items; a deadlock between them is a
    transient error that the managed transaction retries. A failure raises
    :class:`ImportFailed`, naming every problem found and the lines already stored.
    """
    stats = ImportStats()
    chunk_limits = replace(limits, max_batch=batch_size)

    def write(rows: list[EventRow]) -> tuple[int, int]:
        result = store.events.write_events(rows, fold)
        return result.created, result.duplicates

    with tqdm(total=total, unit="ev", disable=not progress, desc="events") as bar:
        batches = _Batches("event", _numbered(records), stats, bar, writers)
        _run_import(
            batches, batch_size,
            lambda chunk, stored: parse_events(chunk, chunk_limits, sentiment=stored),
            write, _unkeyed_events,
        )  # fmt: skip
    return stats


def _unkeyed_events(records: list[dict[str, Any]]) -> int:
    """Events whose derived id would change on a re-run: no event_id, and ts means "now"."""
    return sum(1 for r in records if not r.get("event_id") and r.get("ts") is None)


def import_items(
    store: GraphStore,
    records: Iterable[dict[str, Any]] | Numbered,
    *,
    batch_size: int = 2000,
    total: int | None = None,
    progress: bool = True,
    limits: IntakeLimits | None = None,
) -> ImportStats:
    """Validate and upsert catalog items in batches, one at a time.

    ``limits`` (default: the settings' defaults) bound each record as ``PUT /api/v1/items``
    would, except the batch size, which is ``batch_size`` here.
    """
    stats = ImportStats()
    limits = replace(limits or IntakeLimits(), max_batch=batch_size)
    with tqdm(total=total, unit="item", disable=not progress, desc="items") as bar:
        batches = _Batches("item", _numbered(records), stats, bar, writers=1)
        _run_import(
            batches, batch_size, lambda chunk, _: parse_items(chunk, limits),
            lambda rows: (store.catalog.upsert_items(rows), 0), lambda _: 0,
        )  # fmt: skip
    return stats
