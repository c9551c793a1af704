"""How users spread over categories: the counts a "somewhere new" rate is learned from.

A shop where people keep to one category (groceries by aisle, a hobby shop) and one where
they wander (a department store) should leave different room in a list for categories the
user has not been to. The graph says which: per user, how many items they interacted with
and in how many leaf categories those lie (``app.serving.intent`` fits the rate to it).
"""

from __future__ import annotations

from dataclasses import dataclass

from neo4j import Driver, RoutingControl

# Users with their number of (positively) interacted items filed in a category and the
# number of those categories, counted per (items, categories) pair. A user with one item says
# nothing about wandering and is left out; so is a graph without categories (Gowalla).
CATEGORY_SPREAD = """
MATCH (u:User)
CALL (u) {
  MATCH (u)-[r:INTERACTED]->(i:Item)-[:IN_CATEGORY]->(c:Category)
  WHERE r.weight > 0
  RETURN count(DISTINCT i) AS items, count(DISTINCT c) AS categories
}
WITH items, categories WHERE items > 1
RETURN items, categories, count(*) AS users
ORDER BY items, categories
"""


# Per user, their positively interacted items filed in a category in time order (by each
# item's newest event): how many consecutive pairs there are and in how many the later item
# shares a leaf category with the earlier one. Summed over users: how strongly the shop's
# users keep to the category they are in.
CATEGORY_CONTINUITY = """
MATCH (u:User)
CALL (u) {
  MATCH (u)-[r:INTERACTED]->(i:Item)-[:IN_CATEGORY]->(c:Category)
  WHERE r.weight > 0
  WITH i, r.last_ts.epochMillis AS ms, collect(c.category_id) AS leaves
  ORDER BY ms, i.item_id
  WITH collect(leaves) AS seq
  UNWIND range(1, size(seq) - 1) AS k
  RETURN count(k) AS pairs,
         sum(CASE WHEN any(x IN seq[k] WHERE x IN seq[k - 1]) THEN 1 ELSE 0 END) AS stays
}
RETURN sum(pairs) AS pairs, sum(stays) AS stays
"""


@dataclass(frozen=True)
class CategoryContinuity:
    """Consecutive pairs of a user's items (in time order, summed over users) and how many of
    them stay in a leaf category of the earlier item."""

    pairs: int = 0
    stays: int = 0


def category_continuity(driver: Driver, database: str | None = None) -> CategoryContinuity:
    """How often a user's next item lies in the category of their previous one (one pass)."""
    records = driver.execute_query(
        CATEGORY_CONTINUITY, database_=database, routing_=RoutingControl.READ
    ).records
    if not records:
        return CategoryContinuity()
    return CategoryContinuity(int(records[0]["pairs"] or 0), int(records[0]["stays"] or 0))


@dataclass(frozen=True)
class CategorySpread:
    """``(items, categories, users)``: how many users had that many items in that many
    categories (users with two items or more)."""

    rows: tuple[tuple[int, int, int], ...] = ()


def category_spread(driver: Driver, database: str | None = None) -> CategorySpread:
    """The users' spread over categories (one pass over the interaction edges)."""
    records = driver.execute_query(
        CATEGORY_SPREAD, database_=database, routing_=RoutingControl.READ
    ).records
    return CategorySpread(
        tuple((int(r["items"]), int(r["categories"]), int(r["users"])) for r in records)
    )
