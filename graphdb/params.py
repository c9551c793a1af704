"""Query parameters for batched statements that the driver does not render for its log.

The Neo4j Python driver formats every RUN message for its debug log *before* it calls
``log.debug`` (``" ".join(map(repr, fields))``), so the text is built even when debug logging
is off. For a batch of 5,000 64-dimensional vectors that ``repr`` cost more than sending and
writing the batch: writing 70,000 vectors took 7–9 s with plain lists and 3.5–4 s with
``BatchRows`` (``docs/bench-notes.md``, "Embedding write-back"). ``BatchRows`` is a ``list``,
so both packers (the Rust extension and the pure-Python one) send it exactly like one, but it
prints as a short summary.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class BatchRows(list[Any]):
    """A list parameter whose ``repr`` is its length, not its contents."""

    def __repr__(self) -> str:
        return f"<{len(self)} rows>"


def batch_rows(rows: Iterable[Any]) -> BatchRows:
    """Wrap the rows of an ``UNWIND $rows`` (or an id list) for sending."""
    return rows if isinstance(rows, BatchRows) else BatchRows(rows)
