"""Validation of a whole dataset on every core, for the offline load.

HTTP intake validates 1,000 events at a time; a first load validates millions, the same way,
and that Python work is the load's largest cost after the importer itself. Forked workers each
read the source and validate every n-th chunk of it (reading is cheap, validating is not), and
send back columns (``EventColumns``), which pickle in bulk instead of object by object.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from app.ingest.importer import chunked, offset_error
from app.ingest.sources.stream import DatasetStream
from app.ingest.validation import IntakeLimits, InvalidInput, parse_events
from graphdb.bulkfold import EventColumns
from graphdb.fold import FoldConfig

CHUNK = 50_000
MAX_WORKERS = 4


@dataclass(frozen=True)
class _Share:
    """Which chunks one worker validates, and with what rules."""

    index: int
    of: int
    chunk: int
    limits: IntakeLimits
    fold: FoldConfig


def _validate_share(stream: DatasetStream, share: _Share) -> list[tuple[int, EventColumns]]:
    out = []
    for number, chunk in enumerate(chunked(stream.events(), share.chunk)):
        if number % share.of != share.index:
            continue
        try:
            rows = parse_events(chunk, share.limits)
        except InvalidInput as exc:  # re-numbered to positions in the whole source
            raise offset_error(exc, number * share.chunk, "event") from None
        out.append((number, EventColumns.from_rows(rows, share.fold)))
    return out


def _worker(stream: DatasetStream, share: _Share, send: Connection) -> None:
    """Runs in a forked child: sends ("ok", columns) or ("invalid"/"error", details)."""
    try:
        message: tuple[str, Any] = ("ok", _validate_share(stream, share))
    except InvalidInput as exc:
        message = ("invalid", exc.problems)  # the exception itself does not pickle back
    except Exception as exc:  # reported in the parent, which owns the user's terminal
        message = ("error", f"{type(exc).__name__}: {exc}")
    send.send(message)
    send.close()


def validate_events(
    stream: DatasetStream,
    limits: IntakeLimits,
    fold: FoldConfig,
    workers: int | None = None,
    chunk: int = CHUNK,
) -> EventColumns:
    """Every event of ``stream`` through HTTP intake's validation; duplicates of an id dropped.

    Args:
        stream: The source; each worker makes its own pass over it.
        limits: Intake limits (the batch limit does not apply: chunks are ``chunk`` long).
        fold: Type weights, for each event's contribution.
        workers: Processes to validate in; default one per core, at most ``MAX_WORKERS``.
        chunk: Events per validation call; problems are numbered across the whole source.
    """
    workers = workers or min(os.cpu_count() or 1, MAX_WORKERS)
    chunk_limits = IntakeLimits(
        chunk, limits.max_text_chars, limits.max_future_skew_s, limits.min_event_year
    )
    shares = [_Share(k, workers, chunk, chunk_limits, fold) for k in range(workers)]
    parts = _validate_share(stream, shares[0]) if workers == 1 else _in_children(stream, shares)
    parts.sort(key=lambda part: part[0])
    return _first_of_each_id(EventColumns.concat([columns for _, columns in parts]))


def _in_children(stream: DatasetStream, shares: list[_Share]) -> list[tuple[int, EventColumns]]:
    # Fork, not spawn: the stream holds closures over its files, which do not pickle.
    context = multiprocessing.get_context("fork")
    pipes, children = [], []
    for share in shares:
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_worker, args=(stream, share, send), daemon=True)
        child.start()
        send.close()
        pipes.append(receive)
        children.append(child)
    try:
        messages = [pipe.recv() for pipe in pipes]  # before join: a full pipe blocks the child
    except EOFError:
        raise RuntimeError("a validation worker died without a result") from None
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
    parts: list[tuple[int, EventColumns]] = []
    for kind, payload in messages:
        if kind == "invalid":
            raise InvalidInput(sorted(payload, key=lambda p: p.index or 0)[:50])
        if kind == "error":
            raise RuntimeError(f"validation worker failed: {payload}")
        parts += payload
    return parts


def _first_of_each_id(events: EventColumns) -> EventColumns:
    """Keep the first event of each id, as a re-sent event is ignored online."""
    first: dict[str, int] = {}
    keep = [first.setdefault(event_id, k) == k for k, event_id in enumerate(events.event_id)]
    if len(first) == len(events):
        return events
    return events.take(np.flatnonzero(keep))
