"""Periodic upkeep the worker runs: interest weights decayed to *now*, stored for analysts.

Interest edges keep their weight as of their own newest event (``weight`` at ``last_ts``,
see ``graphdb.fold``), which is exact but not what someone browsing the graph wants to see.
The upkeep pass stores ``weight_now`` (the weight decayed to one common instant) and
``weight_now_at`` (that instant) on every ``(:User)-[:INTERESTED_IN]->()`` edge, a page of
users per managed write transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from neo4j import Driver, ManagedTransaction

from graphdb.area import StoreArea
from graphdb.driver import causal_session
from graphdb.params import batch_rows

READ_SERVER_CLOCK = "RETURN datetime().epochMillis AS now_ms"
READ_USER_PAGE = """
MATCH (u:User) WHERE u.user_id > $after
RETURN u.user_id AS user_id ORDER BY u.user_id
LIMIT $batch
"""
DECAY_INTEREST_EDGES = """
UNWIND $user_ids AS user_id
MATCH (:User {user_id: user_id})-[r:INTERESTED_IN]->()
SET r.weight_now = r.weight * 2.0 ^ (-($now_ms - r.last_ts.epochMillis) / $half_life_ms),
    r.weight_now_at = datetime({epochMillis: $now_ms})
RETURN count(r) AS updated
"""


def _page_tx(tx: ManagedTransaction, after: str, batch: int) -> list[str]:
    return [r["user_id"] for r in tx.run(READ_USER_PAGE, after=after, batch=batch)]


def _decay_tx(tx: ManagedTransaction, user_ids: list[str], now_ms: int, half_life_ms: float) -> int:
    record = tx.run(
        DECAY_INTEREST_EDGES,
        user_ids=batch_rows(user_ids),
        now_ms=now_ms,
        half_life_ms=half_life_ms,
    ).single(strict=True)
    return int(record["updated"])


def decay_interest_edges(
    driver: Driver,
    half_life_ms: float,
    batch: int = 1000,
    database: str | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Store ``weight_now``/``weight_now_at`` on every interest edge; returns edges updated.

    All edges of one pass are decayed to the same instant (the server's clock at the start).
    ``should_stop`` is asked between pages, so a shutting-down worker leaves promptly; the
    next pass simply starts over.
    """
    if not half_life_ms > 0 or batch < 1:
        raise ValueError("half_life_ms must be positive and batch at least 1")
    now_ms = int(driver.execute_query(READ_SERVER_CLOCK, database_=database).records[0][0])
    updated, after = 0, ""
    with causal_session(driver, database) as session:
        while should_stop is None or not should_stop():
            user_ids = session.execute_read(_page_tx, after, batch)
            if not user_ids:
                break
            updated += session.execute_write(_decay_tx, user_ids, now_ms, half_life_ms)
            after = user_ids[-1]
    return updated


class Upkeep(StoreArea):
    """The store's upkeep operations, bound to its driver and database."""

    def decay_interest_edges(
        self, half_life_ms: float, batch: int = 1000, should_stop: Callable[[], bool] | None = None
    ) -> int:
        """Store ``weight_now``/``weight_now_at`` on every interest edge; returns edges updated."""
        return decay_interest_edges(
            self.driver, half_life_ms, batch=batch, should_stop=should_stop, database=self.database
        )
