"""Erasing a person: their user node, interactions, edges and embedding, in one transaction.

The items they touched are stamped ``changed_at`` so the next refresh recomputes whatever
was derived from this user's behaviour (item embeddings, popularity is computed live), and the
next tagging run re-tags them without this user's review text. ``DETACH DELETE`` of the user
removes every edge of theirs, ``INTERESTED_IN`` to tags included; ``Tag`` nodes are shared and
stay (a tag left with no item and no user is removed by the tagging run). A short-lived
``(:Erasure)`` tombstone with a hash of the id tells API workers to forget the user's
precomputed list (``graphdb.serving_feed``).
"""

from __future__ import annotations

from dataclasses import dataclass

from neo4j import Driver, ManagedTransaction

from graphdb.area import StoreArea
from graphdb.serving_feed import MARK_ERASED, erasure_key

MARK_TOUCHED_ITEMS = """
MATCH (:User {user_id: $user_id})-[:INTERACTED]->(i:Item)
SET i.changed_at = datetime.transaction()
RETURN count(i) AS n
"""
DELETE_INTERACTIONS = """
MATCH (:User {user_id: $user_id})-[:PERFORMED]->(x:Interaction)
DETACH DELETE x
RETURN count(*) AS n
"""
DELETE_USER = """
MATCH (u:User {user_id: $user_id})
DETACH DELETE u
RETURN count(*) AS n
"""


@dataclass(frozen=True)
class Erasure:
    user_found: bool
    interactions: int
    items_marked: int


def erase_user_tx(tx: ManagedTransaction, user_id: str) -> Erasure:
    items = tx.run(MARK_TOUCHED_ITEMS, user_id=user_id).single(strict=True)["n"]
    events = tx.run(DELETE_INTERACTIONS, user_id=user_id).single(strict=True)["n"]
    users = tx.run(DELETE_USER, user_id=user_id).single(strict=True)["n"]
    if users:  # API workers drop any list they ranked for this user in advance
        tx.run(MARK_ERASED, key=erasure_key(user_id)).consume()
    return Erasure(bool(users), int(events), int(items))


def erase_user(driver: Driver, user_id: str, database: str | None = None) -> Erasure:
    with driver.session(database=database) as session:
        return session.execute_write(erase_user_tx, user_id)


class Erasures(StoreArea):
    """The store's erase operations, bound to its driver and database."""

    def erase_user(self, user_id: str) -> Erasure:
        return erase_user(self.driver, user_id, database=self.database)
