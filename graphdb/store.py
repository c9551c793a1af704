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
from graphdb.catalog import Catalog
from graphdb.changes import Changes
from graphdb.consistency import Consistency
from graphdb.driver import Neo4jTarget, connect
from graphdb.embeddings import Embeddings
from graphdb.erase import Erasures
from graphdb.ingest import Events
from graphdb.inspection import Inspection
from graphdb.lease import Leases
from graphdb.migrations import Migrations
from graphdb.reads import Reads
from graphdb.recovery import Recovery
from graphdb.refresh_runs import RefreshRuns
from graphdb.serving_feed import ServingFeed
from graphdb.snapshot import Snapshots
from graphdb.tags import Tags
from graphdb.text_vectors import TextVectors
from graphdb.upkeep import Upkeep


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

    @cached_property
    def catalog(self) -> Catalog:
        """The catalog: items, categories, brands."""
        return Catalog(self._driver, self._database)

    @cached_property
    def changes(self) -> Changes:
        """What changed since a watermark, and refreshed vectors."""
        return Changes(self._driver, self._database)

    @cached_property
    def consistency(self) -> Consistency:
        """Bookmarks: this process's causal position as a token, and waiting for a client's."""
        return Consistency(self._driver, self._database)

    @cached_property
    def embeddings(self) -> Embeddings:
        """Model versions and their vectors."""
        return Embeddings(self._driver, self._database)

    @cached_property
    def erasure(self) -> Erasures:
        """Erasing a user."""
        return Erasures(self._driver, self._database)

    @cached_property
    def events(self) -> Events:
        """Behaviour events folded into the graph."""
        return Events(self._driver, self._database)

    @cached_property
    def inspection(self) -> Inspection:
        """What a person looks through: item details, counts, model versions, profiles."""
        return Inspection(self._driver, self._database)

    @cached_property
    def leases(self) -> Leases:
        """The worker's job leases."""
        return Leases(self._driver, self._database)

    @cached_property
    def migrations(self) -> Migrations:
        """Schema migrations."""
        return Migrations(self._driver, self._database)

    @cached_property
    def reads(self) -> Reads:
        """What the API ranks with: recommendation state, item vectors, popular and similar."""
        return Reads(self._driver, self._database)

    @cached_property
    def recovery(self) -> Recovery:
        """What killed trainings left behind: abandoned versions, their staged vectors."""
        return Recovery(self._driver, self._database)

    @cached_property
    def runs(self) -> RefreshRuns:
        """Refresh runs: queue, claim, finish, history."""
        return RefreshRuns(self._driver, self._database)

    @cached_property
    def feed(self) -> ServingFeed:
        """The API workers' change feed."""
        return ServingFeed(self._driver, self._database)

    @cached_property
    def snapshots(self) -> Snapshots:
        """Training snapshots of the whole graph."""
        return Snapshots(self._driver, self._database)

    @cached_property
    def tags(self) -> Tags:
        """Key-phrase tags and tag interests."""
        return Tags(self._driver, self._database)

    @cached_property
    def text(self) -> TextVectors:
        """Item text vectors and semantic search."""
        return TextVectors(self._driver, self._database)

    @cached_property
    def upkeep(self) -> Upkeep:
        """Periodic upkeep of interest edges."""
        return Upkeep(self._driver, self._database)
