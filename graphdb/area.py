"""The base of the :class:`~graphdb.store.GraphStore`'s areas.

Each area (API keys, catalog, refresh runs, ...) is a small typed facade over the functions of
one ``graphdb`` module, bound to the process's driver and database, so code outside ``graphdb/``
never holds a driver or passes ``database=`` around. The module functions stay as they are: they
are what the areas, the tests and the benchmarks call with a driver of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neo4j import Driver, RoutingControl


@dataclass(frozen=True)
class StoreArea:
    """The driver and the database one area of the store speaks to."""

    driver: Driver
    database: str


def read_plain(
    driver: Driver, query: str, database: str | None, **params: Any
) -> list[dict[str, Any]]:
    """The rows of a read as dicts, for queries that return no nodes, relationships or paths
    (the serving reads).

    ``Record.data()`` walks every value recursively to turn graph objects into dicts; for
    plain values it changes nothing but costs about a millisecond per recommendation.
    """
    records = driver.execute_query(
        query, params, database_=database, routing_=RoutingControl.READ
    ).records
    return [dict(record) for record in records]
