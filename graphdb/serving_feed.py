"""What an API worker's cache of ranked lists needs from the graph.

A worker keeps every active user's recommendation list ranked in advance (``app.serving.rec_lists``)
and must learn quickly which of them went stale. The change feed is one small indexed read:
the active model version, the server clock, the users stamped ``changed_at`` since a given
instant (every event and catalog write stamps it), and the users erased since then. An
erasure deletes the user node, so it leaves a short-lived ``(:Erasure)`` tombstone holding
only a keyed hash of the user id (see :func:`erasure_key`); the worker's upkeep deletes
tombstones older than :data:`ERASURE_KEEP_S`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from neo4j import Driver, RoutingControl

from graphdb.area import StoreArea
from graphdb.params import batch_rows
from graphdb.reads import (
    USER_CATEGORY_WEIGHTS,
    USER_SEEN_NEWEST_FIRST,
    RecommendState,
    split_seen,
)
from graphdb.slots import active_vector

CHANGE_FEED = """
OPTIONAL MATCH (m:ModelVersion {active: true})
RETURN m.version AS version, coalesce(m.revision, 0) AS revision,
       datetime.transaction() AS now,
       COLLECT { MATCH (u:User) WHERE u.changed_at > $since RETURN u.user_id } AS changed,
       COLLECT { MATCH (e:Erasure) WHERE e.at > $since RETURN e.key } AS erased
"""
USER_CHANGED_AT = "MATCH (u:User {user_id: $user_id}) RETURN u.changed_at AS changed_at"
# The users whose lists are worth ranking in advance: the most recently active first.
ACTIVE_USERS = """
MATCH (u:User) WHERE u.changed_at IS NOT NULL
RETURN u.user_id AS user_id
ORDER BY u.changed_at DESC
LIMIT $limit
"""
# RECOMMEND_STATE (graphdb.reads) for a batch of users, without the filter checks.
RECOMMEND_STATES = (
    """
OPTIONAL MATCH (m:ModelVersion {active: true})
UNWIND $user_ids AS user_id
MATCH (u:User {user_id: user_id})
RETURN u.user_id AS user_id, m.version AS version, coalesce(m.revision, 0) AS revision,
       """
    + active_vector("u")
    + """ AS embedding,
       """
    + USER_CATEGORY_WEIGHTS
    + """ AS categories,
       """
    + USER_SEEN_NEWEST_FIRST
    + """ AS seen
"""
)
MARK_ERASED = """
MERGE (e:Erasure {key: $key})
SET e.at = datetime.transaction()
"""
PURGE_ERASURES = """
MATCH (e:Erasure) WHERE e.at < datetime.transaction() - duration({seconds: $keep_s})
DELETE e
RETURN count(*) AS n
"""


# How long a tombstone must stay: an API worker whose change feed was away longer than an hour
# drops all its lists (``app.serving.rec_lists.FEED_GAP_REBUILD_S``), so one that missed a
# tombstone rebuilds without the user; two hours leave that rule a full hour of margin. The
# worker's upkeep runs every ``IG_DECAY_INTERVAL_S`` (an hour by default), so a tombstone
# lives between two and three hours.
ERASURE_KEEP_S = 7200.0


def erasure_key(user_id: str, salt: bytes) -> str:
    """The tombstone's key: HMAC-SHA-256 of the id under the deployment's secret salt.

    No id of an erased person stays in the graph, and without the salt (kept outside the
    graph, see ``app.settings.Settings.erasure_salt``) nobody holding a copy of the graph can
    test a guessed id against a tombstone, as an unkeyed hash would let them.

    Raises:
        ValueError: ``salt`` is empty (a key without it would be a plain hash).
    """
    if not salt:
        raise ValueError("an erasure key needs the deployment's salt")
    return hmac.new(salt, user_id.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ChangeFeed:
    """One poll of the feed.

    Attributes:
        version: The active model version (``None`` before the first training).
        revision: How many refreshes have rewritten vectors of that version.
        now: The server's clock when the poll ran (the next poll's lower bound).
        changed: Users stamped ``changed_at`` after the poll's lower bound.
        erased: Erasure keys (:func:`erasure_key`) stamped after it.
    """

    version: str | None
    revision: int
    now: datetime
    changed: frozenset[str]
    erased: frozenset[str]


def read_change_feed(driver: Driver, since: datetime, database: str | None = None) -> ChangeFeed:
    record = driver.execute_query(
        CHANGE_FEED, since=since, database_=database, routing_=RoutingControl.READ
    ).records[0]
    return ChangeFeed(
        version=record["version"],
        revision=int(record["revision"]),
        now=record["now"].to_native(),
        changed=frozenset(record["changed"]),
        erased=frozenset(record["erased"]),
    )


def active_users(driver: Driver, limit: int, database: str | None = None) -> list[str]:
    records = driver.execute_query(
        ACTIVE_USERS, limit=limit, database_=database, routing_=RoutingControl.READ
    ).records
    return [str(r["user_id"]) for r in records]


def recommend_states(
    driver: Driver, user_ids: list[str], database: str | None = None, fold_limit: int = 50
) -> list[RecommendState]:
    """Per user (those that exist), their state as ``graphdb.reads.recommend_state`` reads it
    (``user_id`` set; no filter checks)."""
    records = driver.execute_query(
        RECOMMEND_STATES,
        user_ids=batch_rows(user_ids),
        database_=database,
        routing_=RoutingControl.READ,
    ).records
    return [split_seen(dict(record), fold_limit) for record in records]


def purge_erasures(driver: Driver, keep_s: float, database: str | None = None) -> int:
    """Deletes tombstones older than ``keep_s`` seconds; returns how many."""
    records = driver.execute_query(PURGE_ERASURES, keep_s=keep_s, database_=database).records
    return int(records[0]["n"])


class ServingFeed(StoreArea):
    """The store's serving feed operations, bound to its driver and database."""

    def read_change_feed(self, since: datetime) -> ChangeFeed:
        return read_change_feed(self.driver, since, database=self.database)

    def user_changed_at(self, user_id: str) -> datetime | None:
        """When the user's graph last changed (``None``: unknown user or never)."""
        records = self.driver.execute_query(
            USER_CHANGED_AT, user_id=user_id, database_=self.database,
            routing_=RoutingControl.READ,
        ).records  # fmt: skip
        value = records[0]["changed_at"] if records else None
        return None if value is None else value.to_native()

    def active_users(self, limit: int) -> list[str]:
        return active_users(self.driver, limit, database=self.database)

    def recommend_states(self, user_ids: list[str], fold_limit: int = 50) -> list[RecommendState]:
        """Per user (those that exist), what ``graphdb.reads.recommend_state`` returns."""
        return recommend_states(
            self.driver, user_ids, fold_limit=fold_limit, database=self.database
        )

    def purge_erasures(self, keep_s: float) -> int:
        """Deletes tombstones older than ``keep_s`` seconds; returns how many."""
        return purge_erasures(self.driver, keep_s, database=self.database)
