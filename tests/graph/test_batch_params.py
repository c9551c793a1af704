"""Batched parameters reach Neo4j intact without the driver rendering them for its log."""

from __future__ import annotations

from typing import Any

from neo4j import Driver

from graphdb.params import BatchRows, batch_rows

ECHO_ROWS = "UNWIND $rows AS row RETURN row.id AS id, row.vector AS vector"


class RenderTrap(dict[str, Any]):
    """A row that fails the test if anything formats it for display."""

    def __repr__(self) -> str:
        raise AssertionError("a batch row was rendered with repr()")


def test_batch_rows_print_as_a_summary() -> None:
    rows = batch_rows({"id": k} for k in range(3))
    assert rows == [{"id": 0}, {"id": 1}, {"id": 2}]
    assert repr(rows) == "<3 rows>"
    assert repr({"rows": rows}) == "{'rows': <3 rows>}"
    assert batch_rows(rows) is rows


def test_rows_are_sent_whole_and_never_rendered(graph: Driver) -> None:
    vectors = [[float(k), 0.5, -1.25] for k in range(1000)]
    rows = BatchRows(RenderTrap(id=f"n{k}", vector=v) for k, v in enumerate(vectors))
    records = graph.execute_query(ECHO_ROWS, rows=rows).records
    assert [r["id"] for r in records] == [f"n{k}" for k in range(1000)]
    assert [r["vector"] for r in records] == vectors


def test_plain_rows_would_be_rendered(graph: Driver) -> None:
    """The trap works: without ``BatchRows`` the driver formats the rows it sends."""
    rows = [RenderTrap(id="n0", vector=[1.0])]
    try:
        graph.execute_query(ECHO_ROWS, rows=rows)
    except AssertionError as exc:
        assert "rendered" in str(exc)
    else:
        raise AssertionError("the driver no longer renders parameters; BatchRows may be dropped")
