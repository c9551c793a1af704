"""``GraphStore``: the one object through which the rest of the service reaches Neo4j.

It holds the process's driver and the database, and groups typed methods by area
(``store.api_keys.verify(raw)``, ...). Everything it returns is a plain Python value, a frozen
dataclass or a numpy array: no ``neo4j`` type leaves ``graphdb/``.
"""

from __future__ import annotations

from functools import cached_property

import neo4j
from neo4j import Driver

from graphdb.apikeys import ApiKeys
from graphdb.driver import Neo4jTarget, connect


class GraphStore:
    """The driver and database of one process, with the graph's operations by area.

    Args:
        driver: the process's driver (the store closes it in :meth:`close`).
        database: the Neo4j database every operation runs in.
    """

    def __init__(self, driver: Driver, database: str = "neo4j") -> None:
        self._driver = driver
        self._database = database

    @classmethod
    def connect(
        cls, target: Neo4jTarget, *, verify: bool = True, retry_time_s: float = 10.0
    ) -> GraphStore:
        """A store over a new driver for ``target`` (``verify`` checks connectivity at once)."""
        return cls(connect(target, verify=verify, retry_time_s=retry_time_s), target.database)

    @property
    def database(self) -> str:
        return self._database

    def close(self) -> None:
        self._driver.close()

    def ping(self) -> None:
        """Run a trivial read; raises when the server does not answer (see ``is_unavailable``)."""
        self._driver.execute_query(
            "RETURN 1", database_=self._database, routing_=neo4j.RoutingControl.READ
        )

    @cached_property
    def api_keys(self) -> ApiKeys:
        return ApiKeys(self._driver, self._database)
