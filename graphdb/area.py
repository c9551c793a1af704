"""The base of the :class:`~graphdb.store.GraphStore`'s areas.

Each area (API keys, catalog, refresh runs, ...) is a small typed facade over the functions of
one ``graphdb`` module, bound to the process's driver and database, so code outside ``graphdb/``
never holds a driver or passes ``database=`` around. The module functions stay as they are: they
are what the areas, the tests and the benchmarks call with a driver of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from neo4j import Driver


@dataclass(frozen=True)
class StoreArea:
    """The driver and the database one area of the store speaks to."""

    driver: Driver
    database: str
