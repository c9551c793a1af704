"""Driver construction: one driver per process, created by the caller and passed around."""

from __future__ import annotations

from dataclasses import dataclass

import neo4j
from neo4j import Driver, GraphDatabase, Session
from neo4j.exceptions import Neo4jError, ServiceUnavailable, SessionExpired, TransientError


@dataclass(frozen=True)
class Neo4jTarget:
    """How to reach a Neo4j database."""

    uri: str
    user: str = "neo4j"
    password: str | None = None
    database: str = "neo4j"

    def auth(self) -> tuple[str, str] | None:
        return (self.user, self.password) if self.password else None


def connect(target: Neo4jTarget, *, verify: bool = True, retry_time_s: float = 10.0) -> Driver:
    """Create the process's driver; ``verify`` checks connectivity at once.

    ``retry_time_s`` bounds how long managed transactions retry transient failures, so a
    request against a stopped server fails within seconds instead of hanging.
    """
    driver = GraphDatabase.driver(
        target.uri,
        auth=target.auth(),
        max_connection_pool_size=64,
        connection_timeout=5.0,
        connection_acquisition_timeout=10.0,
        max_transaction_retry_time=retry_time_s,
        notifications_min_severity="OFF",
    )
    if verify:
        try:
            driver.verify_connectivity()
        except Exception:
            driver.close()
            raise
    return driver


def causal_session(driver: Driver, database: str | None) -> Session:
    """A session in the process's causal chain (the driver's ``execute_query`` bookmark manager).

    It starts after everything the process has committed - in a cluster the server it reaches
    catches up first - and its own commits join the chain, so a write through a session and a
    later ``execute_query`` read (the API's reads) see each other on any member of a cluster.
    On one server this costs nothing measurable: the server has always applied its own commits.
    """
    return driver.session(database=database, bookmark_manager=driver.execute_query_bookmark_manager)


def ping(uri: str, user: str, password: str | None) -> bool:
    """True when a Bolt server at ``uri`` accepts a session and answers a query."""
    auth = (user, password) if password else None
    try:
        with GraphDatabase.driver(uri, auth=auth, connection_timeout=2.0) as driver:
            driver.execute_query("RETURN 1", routing_=neo4j.RoutingControl.READ)
    except (ServiceUnavailable, Neo4jError, OSError):
        return False
    return True


def is_unavailable(exc: BaseException) -> bool:
    """True for errors that mean "the graph store is down or busy; retry shortly".

    Callers outside ``graphdb/`` map these to a 503 without importing the driver's types.
    """
    return isinstance(exc, ServiceUnavailable | SessionExpired | TransientError)
