"""What a failed import says: every problem by the file's line (up to a cap) and what was stored.

Batches are all-or-nothing transactions, so an import that fails part-way keeps the batches
written before it; the message says which lines those were, so nobody has to guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.ingest.validation import InvalidInput

MAX_LISTED_PROBLEMS = 20


@dataclass(frozen=True)
class Numbered:
    """Records with the number a person finds them by: a file's line, or a record's position."""

    pairs: Iterable[tuple[int, dict[str, Any]]]
    unit: str = "record"  # "line" for files
    source: str = ""  # the file, for the message


@dataclass
class StoredBatches:
    """The batches written so far, as (batch number, first and last line) in write order."""

    ranges: list[tuple[int, int, int]] = field(default_factory=list)
    records: int = 0
    unkeyed: int = 0  # stored events without event_id and ts: they got the import's time

    def add(self, number: int, lines: list[int], unkeyed: int) -> None:
        self.ranges.append((number, lines[0], lines[-1]))
        self.records += len(lines)
        self.unkeyed += unkeyed

    def spans(self) -> list[tuple[int, int]]:
        """Line spans of consecutive stored batches."""
        spans: list[list[int]] = []
        previous = -2
        for number, first, last in sorted(self.ranges):
            if number == previous + 1 and spans:
                spans[-1][1] = last
            else:
                spans.append([first, last])
            previous = number
        return [(first, last) for first, last in spans]


def located_problems(exc: InvalidInput, lines: list[int], unit: str) -> list[str]:
    """The chunk's problems, each named by the record's line instead of its index in the chunk."""
    located = []
    for problem in exc.problems:
        where = f"{unit} {lines[problem.index]}: " if problem.index is not None else ""
        located.append(f"{where}field '{problem.field}': {problem.message}")
    # Past the chunk's own cap only the count is known.
    located += [""] * (exc.total - len(exc.problems))
    return located


class ImportFailed(ValueError):
    """An import stopped; the message lists the problems and says what was stored before."""

    def __init__(
        self,
        what: str,
        source: Numbered,
        problems: list[str],
        stored: StoredBatches,
        cause: BaseException | None = None,
    ) -> None:
        self.problems = problems
        self.stored = stored
        self.cause = cause
        super().__init__(_message(what, source, problems, stored))


def _message(what: str, source: Numbered, problems: list[str], stored: StoredBatches) -> str:
    named = [problem for problem in problems if problem]
    listed = named[:MAX_LISTED_PROBLEMS]
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    head = f"{source.source or what + 's'}: {count}"
    lines = [head + ":"] + [f"  {problem}" for problem in listed]
    if len(problems) > len(listed):
        lines.append(f"  and {len(problems) - len(listed)} more")
    lines.append(_stored_sentence(what, source.unit, stored))
    return "\n".join(lines)


def _stored_sentence(what: str, unit: str, stored: StoredBatches) -> str:
    if not stored.records:
        return f"nothing was stored; fix the {unit}s above and run the import again"
    spans = ", ".join(f"{first}-{last}" for first, last in stored.spans())
    batches = len(stored.ranges)
    told = (
        f"stored {stored.records:,} {what}s from {unit}s {spans} before the error "
        f"({batches} batch{'es' if batches != 1 else ''}); nothing else was stored. "
    )
    if what == "item":
        return told + "Re-running is safe: items are upserted by item_id."
    told += (
        "Re-running the fixed input is safe: stored events are recognised by their event_id "
        "(or, without one, by their content and ts) and not counted twice."
    )
    if stored.unkeyed:
        told += (
            f" Except {stored.unkeyed:,} of them, which had neither event_id nor ts and were "
            "given the import's time: those would be stored again."
        )
    return told
