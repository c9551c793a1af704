"""Validating a source on several processes gives what one process gives, errors included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.ingest.parallel_validation import validate_events
from app.ingest.sources.stream import DatasetStream
from app.ingest.validation import IntakeLimits, InvalidInput
from graphdb.fold import FoldConfig


def _stream(records: list[dict[str, Any]]) -> DatasetStream:
    def events() -> Iterator[dict[str, Any]]:
        return iter(records)

    return DatasetStream(
        name="probe", make_items=lambda: iter(()), make_events=events,
        count_items=lambda: 0, count_events=lambda: len(records),
    )  # fmt: skip


def _records(n: int) -> list[dict[str, Any]]:
    return [
        {"event_id": f"e{k}", "user_id": f"u{k % 7}", "item_id": f"i{k % 11}",
         "type": "rating" if k % 5 == 0 else "view", "value": 4 if k % 5 == 0 else None,
         "ts": f"2024-05-01T12:{k % 60:02d}:00Z"}
        for k in range(n)
    ]  # fmt: skip


def test_two_workers_equal_one() -> None:
    records = _records(1000)
    records.append(dict(records[10]))  # a re-sent event: kept once, as online
    stream, limits, fold = _stream(records), IntakeLimits(), FoldConfig()
    one = validate_events(stream, limits, fold, workers=1, chunk=64)
    two = validate_events(stream, limits, fold, workers=2, chunk=64)
    assert len(one) == 1000
    assert one.event_id == two.event_id == [f"e{k}" for k in range(1000)]
    assert one.ts_ms.tolist() == two.ts_ms.tolist()
    assert one.contribution.tolist() == two.contribution.tolist()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_bad_event_is_named_by_its_position_in_the_whole_source(workers: int) -> None:
    records = _records(500)
    records[333]["type"] = "teleport"
    with pytest.raises(InvalidInput) as caught:
        validate_events(_stream(records), IntakeLimits(), FoldConfig(), workers=workers, chunk=64)
    problem = caught.value.problems[0]
    assert (problem.index, problem.field) == (333, "type")
