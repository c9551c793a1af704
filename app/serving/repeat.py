"""An item just bought is not followed by near-duplicates of itself, unless people buy again there.

Right after buying a coffee maker, more coffee makers are what the vectors and the user's
last items point at, and the last thing the buyer needs. Whether the rule holds is a property
of the category, and it is learned from the graph: the share of the category's buyers who
bought in it more than once (``graphdb.repeat_purchase``, read with the item vectors). A
category with few buyers says little about itself, so its rate is shrunk towards the shop's
(``PRIOR_BUYERS`` pseudo-buyers at the shop-wide rate): a category nobody bought in yet is
like the shop as a whole. Where the rate reaches ``min_rate`` (a setting) people do buy
again (shampoo, novels, or the drift benchmark's shoppers who buy eight items of one
category) and nothing is held back; elsewhere the other items filed in the bought item's
leaf categories leave the list.

A near-duplicate is an item filed in the same leaf category: the leaf is the shop's own
word for "the same kind of thing". Closeness of vectors is not used: a collaborative model
puts items bought *together* close (the coffee grinder beside the coffee maker), which are the
complements worth showing, not substitutes.

"Just bought" is measured against the user's own newest interaction, not a clock: the answer
then depends on the graph alone, so a list ranked in advance stays exactly the live answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.serving.item_index import ItemIndex
from graphdb.reads import RecommendState
from graphdb.repeat_purchase import RepeatPurchases

DAY_MS = 86_400_000.0
# How many buyers the shop-wide rate counts as in every category's rate: a category's own
# figure outweighs the shop's from a handful of buyers on, and one or two buyers who happen
# to buy twice (or once) do not decide for a whole category.
PRIOR_BUYERS = 5.0


@dataclass(frozen=True)
class RepeatRule:
    """Whether and when near-duplicates of a recent purchase are held back.

    Attributes:
        enabled: Off: purchases hold nothing back.
        min_rate: Repeat-purchase rate from which a category counts as one people buy in
            again (its near-duplicates stay).
        window_days: A purchase is recent when its item's newest event is at most this long
            before the user's newest interaction.
    """

    enabled: bool = True
    min_rate: float = 0.5
    window_days: float = 30.0


def recent_purchases(state: RecommendState, window_days: float) -> list[str]:
    """Items the user bought whose newest event lies within the window of their newest one.

    The edge keeps the newest event of any type, not the purchase's own time: a rating or a
    review a few days after buying moves it a little later, which the window absorbs.
    """
    if not state.seen_ms:
        return []
    newest = max(state.seen_ms)
    since = newest - window_days * DAY_MS
    return [
        item_id
        for (item_id, bought), ms in zip(state.seen, state.seen_ms, strict=False)
        if bought and ms >= since
    ]


def repeat_rate(repeats: RepeatPurchases, category: str) -> float:
    """The category's repeat-purchase rate, shrunk towards the shop's (0 in a shop with none)."""
    shop = repeats.repeaters / repeats.buyers if repeats.buyers else 0.0
    own = repeats.by_category.get(category)
    buyers, repeaters = (own.buyers, own.repeaters) if own is not None else (0, 0)
    return (repeaters + PRIOR_BUYERS * shop) / (buyers + PRIOR_BUYERS)


def held_back(index: ItemIndex, state: RecommendState, rule: RepeatRule) -> np.ndarray | None:
    """Items to leave out as near-duplicates of a recent purchase, or ``None`` (none)."""
    if not rule.enabled:
        return None
    leaves: set[str] = set()
    for item_id in recent_purchases(state, rule.window_days):
        pos = index.position.get(item_id)
        if pos is not None:
            leaves.update(index.leaves[pos])
    one_off = sorted(c for c in leaves if repeat_rate(index.repeats, c) < rule.min_rate)
    if not one_off:
        return None
    mask = np.zeros(len(index.ids), dtype=bool)
    for leaf in one_off:
        mask |= index.leaf_mask(leaf)
    return mask
