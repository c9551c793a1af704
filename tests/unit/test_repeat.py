"""Near-duplicates of an item just bought leave the list unless people buy again in its
category, as the graph's repeat-purchase rates say (numpy only)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from app.serving.item_index import ItemIndex
from app.serving.recommend import RecommendationRequest, ranked_positions
from app.serving.repeat import PRIOR_BUYERS, RepeatRule, held_back, repeat_rate
from graphdb.reads import Filters, ItemVectorRow, RecommendState
from graphdb.repeat_purchase import CategoryRepeat, RepeatPurchases

DAY_MS = 86_400_000
# "kettles": bought once by nearly everyone; "teas": most buyers buy again.
REPEATS = RepeatPurchases.of([CategoryRepeat("kettles", 40, 2), CategoryRepeat("teas", 40, 30)])


def _index() -> ItemIndex:
    rng = np.random.default_rng(0)
    rows = [
        ItemVectorRow(item_id=f"{c}-{i}", title=None, embedding=rng.normal(size=8).tolist(),
                      prior=0.0, categories=("shop", c), leaves=(c,), brands=())
        for c in ("kettles", "teas", "mugs") for i in range(10)
    ]  # fmt: skip
    return replace(ItemIndex.from_rows("v1", rows), repeats=REPEATS)


def _state(bought: str, days_before_newest: float = 0.0) -> RecommendState:
    """A user who viewed a mug and, ``days_before_newest`` earlier, bought ``bought``."""
    newest = 100 * DAY_MS
    return RecommendState(
        version="v1", revision=0, embedding=None, categories=(), fresh=(),
        seen=(("mugs-0", False), (bought, True)),
        seen_ms=(newest, int(newest - days_before_newest * DAY_MS)), seen_weight=(1.0, 8.0),
    )  # fmt: skip


def _held(index: ItemIndex, state: RecommendState, rule: RepeatRule) -> set[str]:
    mask = held_back(index, state, rule)
    return set() if mask is None else {index.ids[p] for p in np.flatnonzero(mask)}


def test_a_purchase_holds_back_its_category_only_where_people_buy_once() -> None:
    index = _index()
    kettles = {f"kettles-{i}" for i in range(10)}
    assert _held(index, _state("kettles-3"), RepeatRule()) == kettles
    assert _held(index, _state("teas-3"), RepeatRule()) == set()
    # A purchase long before the user's newest interaction is not "just bought".
    assert _held(index, _state("kettles-3", days_before_newest=10), RepeatRule()) == kettles
    assert _held(index, _state("kettles-3", days_before_newest=40), RepeatRule()) == set()
    assert _held(index, _state("kettles-3"), RepeatRule(enabled=False)) == set()
    # The threshold decides: at a minimum below the kettles' rate they are repeat goods too.
    assert _held(index, _state("kettles-3"), RepeatRule(min_rate=0.05)) == set()
    assert _held(index, _state("teas-3"), RepeatRule(min_rate=0.9)) == {
        f"teas-{i}" for i in range(10)
    }


def test_a_categorys_rate_is_its_own_shrunk_towards_the_shops() -> None:
    shop = 32 / 80
    assert repeat_rate(REPEATS, "teas") == pytest.approx((30 + PRIOR_BUYERS * shop) / 45)
    assert repeat_rate(REPEATS, "kettles") == pytest.approx((2 + PRIOR_BUYERS * shop) / 45)
    assert repeat_rate(REPEATS, "mugs") == pytest.approx(shop)  # nobody bought: the shop's
    assert repeat_rate(RepeatPurchases(), "mugs") == 0.0  # no purchases at all: none repeat
    # One buyer who happened to buy twice does not make a category of a one-off shop repeat.
    few = RepeatPurchases.of([CategoryRepeat("kettles", 40, 2), CategoryRepeat("new", 1, 1)])
    assert repeat_rate(few, "new") < 0.5


def test_the_ranking_leaves_near_duplicates_out_unless_the_request_asks_for_them() -> None:
    index = _index()
    state = _state("kettles-3")
    scores = np.asarray([2.0 if i.startswith("kettles") else 1.0 for i in index.ids])
    request = RecommendationRequest(user_id="u", k=15)
    picked, _ = ranked_positions(index, request, state, scores, None, RepeatRule())
    assert len(picked) == 15 and not any(index.ids[p].startswith("kettles") for p in picked)
    picked, _ = ranked_positions(index, request, state, scores, None, None)
    assert sum(index.ids[p].startswith("kettles") for p in picked) == 9  # all but the bought
    # A request for the category itself gets it.
    asked = RecommendationRequest(user_id="u", k=5, filters=Filters(category="kettles"))
    picked, _ = ranked_positions(index, asked, state, scores, None, RepeatRule())
    assert len(picked) == 5 and all(index.ids[p].startswith("kettles") for p in picked)
