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
