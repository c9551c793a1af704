"""How often the buyers of each category buy in it again: the repeat-purchase statistic.

Some categories are bought once (a coffee maker), others again and again (shampoo, novels).
Recommendations hold back near-duplicates of an item just bought only in the first kind
(``app.serving.repeat``), and the graph says which kind a category is: of the users who bought
in it, how many bought two or more different items there, or one item twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from neo4j import Driver, RoutingControl

# Per leaf category (items are filed in leaves): its buyers and how many of them bought in it
# more than once. Started from the categories, so a graph without any (Gowalla) reads
# nothing, and each category walks only its own items' edges.
REPEAT_PURCHASE_RATES = """
MATCH (c:Category)
CALL (c) {
  MATCH (c)<-[:IN_CATEGORY]-(:Item)<-[r:INTERACTED]-(u:User)
  WHERE r.count_purchase > 0
  WITH u, count(r) AS items, max(r.count_purchase) AS most
  RETURN count(u) AS buyers, count(CASE WHEN items > 1 OR most > 1 THEN u END) AS repeaters
}
WITH c, buyers, repeaters WHERE buyers > 0
RETURN c.category_id AS category_id, buyers, repeaters
ORDER BY category_id
"""


@dataclass(frozen=True)
class CategoryRepeat:
    """One category's buyers and repeat buyers.

    Attributes:
        category_id: The (leaf) category.
        buyers: Users who bought at least one item filed in it.
        repeaters: Those who bought two or more different items in it, or one item twice.
    """

    category_id: str
    buyers: int
    repeaters: int


@dataclass(frozen=True)
class RepeatPurchases:
    """Every category's buyers and repeat buyers, and their sums over the shop.

    Attributes:
        by_category: Categories with at least one buyer, by id.
        buyers: Buyers summed over the categories (a user counts once per category).
        repeaters: Repeat buyers, summed likewise.
    """

    by_category: dict[str, CategoryRepeat] = field(default_factory=dict)
    buyers: int = 0
    repeaters: int = 0

    @classmethod
    def of(cls, rows: list[CategoryRepeat]) -> RepeatPurchases:
        return cls(
            by_category={r.category_id: r for r in rows},
            buyers=sum(r.buyers for r in rows),
            repeaters=sum(r.repeaters for r in rows),
        )


def repeat_purchases(driver: Driver, database: str | None = None) -> RepeatPurchases:
    """Every category with a buyer, with its repeat buyers (one pass over purchase edges)."""
    records = driver.execute_query(
        REPEAT_PURCHASE_RATES, database_=database, routing_=RoutingControl.READ
    ).records
    return RepeatPurchases.of(
        [CategoryRepeat(str(r["category_id"]), int(r["buyers"]), int(r["repeaters"]))
         for r in records]
    )  # fmt: skip
