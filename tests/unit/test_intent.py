"""Lists shared out between a user's interests in proportion to the evidence (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from app.serving.buckets import shared_out
from app.serving.intent import IntentMix, category_orders, category_shares
from app.serving.item_index import ItemIndex
from graphdb.category_order import StoredCategoryOrder
from graphdb.reads import ItemVectorRow, RecommendState

DAY_MS = 86_400_000
HALF_LIFE_MS = 30 * DAY_MS


def _index(categories: int = 4, per: int = 30, seed: int = 0) -> ItemIndex:
    rng = np.random.default_rng(seed)
    rows = [
        ItemVectorRow(item_id=f"c{c}-i{i}", title=None, embedding=rng.normal(size=8).tolist(),
                      prior=0.0, categories=(f"cat{c}",), leaves=(f"cat{c}",), brands=())
        for c in range(categories) for i in range(per)
    ]  # fmt: skip
    return ItemIndex.from_rows("v1", rows)


def _state(
    weights: dict[str, tuple[float, int]],
    seen: list[str],
    seen_ms: list[int] | None = None,
    seen_weight: list[float] | None = None,
) -> RecommendState:
    return RecommendState(
        version="v1", revision=0, embedding=None,
        categories=tuple((c, w) for c, (w, _) in weights.items()),
        seen=tuple((i, False) for i in seen), fresh=(),
        category_last_ms={c: ms for c, (_, ms) in weights.items()},
        seen_ms=tuple(seen_ms or ()), seen_weight=tuple(seen_weight or ()),
    )  # fmt: skip


def test_shares_follow_decayed_weights_and_the_session() -> None:
    index = _index()
    now = 100 * DAY_MS
    # Equal stored weights, but cat0's is a half-life older: it counts half.
    state = _state({"cat0": (20.0, now - 30 * DAY_MS), "cat1": (20.0, now)}, seen=[])
    interests_only = category_shares(state, index, IntentMix(), HALF_LIFE_MS)
    assert interests_only == pytest.approx({"cat0": 1 / 3, "cat1": 2 / 3})
    # The session (no gap over 30 minutes) is the three cat2 items; the cat0 item a day
    # before is not in it. Three items in a category the user had no interest in: the focus
    # has moved there, so it takes rho = 0.8 of the list.
    minute = 60_000
    state = _state({"cat0": (20.0, now)}, seen=["c2-i1", "c2-i2", "c2-i3", "c0-i1"],
                   seen_ms=[now, now - minute, now - 2 * minute, now - DAY_MS])  # fmt: skip
    mixed = category_shares(state, index, IntentMix(focus=0.8), HALF_LIFE_MS)
    assert mixed == pytest.approx({"cat0": 0.2, "cat2": 0.8}, abs=0.01)
    assert category_shares(_state({}, []), index, IntentMix(), HALF_LIFE_MS) == {}


def test_one_event_in_a_new_category_moves_the_list_as_far_as_the_setting_says() -> None:
    index = _index()
    now, minute = 100 * DAY_MS, 60_000
    history = [f"c0-i{i}" for i in range(20)]
    times = [now] + [now - 30 * DAY_MS - i * minute for i in range(20)]
    state = _state({"cat0": (60.0, now - 30 * DAY_MS)}, seen=["c1-i0", *history], seen_ms=times)
    for after_one in (0.1, 0.25, 0.5):
        mix = IntentMix(switch_after_one=after_one, focus=0.8)
        shares = category_shares(state, index, mix, HALF_LIFE_MS)
        assert shares["cat1"] == pytest.approx(0.8 * after_one)
        assert shares["cat0"] == pytest.approx(1 - 0.8 * after_one)


def test_an_unset_focus_is_the_shop_s_fitted_one() -> None:
    index = _index()
    assert IntentMix().focus_of(index) == 0.8
    index.focus = 0.95
    assert IntentMix().focus_of(index) == 0.95
    assert IntentMix(focus=0.5).focus_of(index) == 0.5
    now = 100 * DAY_MS
    state = _state({}, seen=["c1-i0", "c1-i1"], seen_ms=[now, now - 60_000])
    assert category_shares(state, index, IntentMix(), HALF_LIFE_MS)["cat1"] == pytest.approx(1.0)


def test_one_stray_event_moves_little_and_a_session_moves_more_each_event() -> None:
    index = _index()
    now, minute = 100 * DAY_MS, 60_000
    history = [f"c0-i{i}" for i in range(20)]
    shares = []
    for k in range(1, 6):
        session = [f"c1-i{i}" for i in range(k)]
        times = [now - i * minute for i in range(k)] + [now - 30 * DAY_MS] * len(history)
        state = _state({"cat0": (60.0, now - 30 * DAY_MS), "cat1": (8.0 * k, now)},
                       seen=session + history, seen_ms=times,
                       seen_weight=[8.0] * k + [3.0] * len(history))  # fmt: skip
        shares.append(category_shares(state, index, IntentMix(), HALF_LIFE_MS)["cat1"])
    assert shares[0] < 0.5  # the established interest keeps most of the list
    assert shares[1] > 0.5  # a second event in the same new category is no stray
    assert all(b > a for a, b in zip(shares, shares[1:], strict=False))


def test_the_open_share_is_the_chance_of_somewhere_new() -> None:
    mix = IntentMix(open_share=0.05, open_prior_events=2.0)
    newcomer = _state({}, seen=["c0-i1"])
    regular = _state({}, seen=[f"c0-i{i}" for i in range(30)])
    assert mix.open_share_of(newcomer, None) == pytest.approx(2 / 3)
    assert mix.open_share_of(regular, None) == pytest.approx(2 / 32)
    # Fitted rates: a shop whose users keep to one category leaves the floor; a wandering
    # shop leaves most of a regular's list to the model.
    assert mix.open_share_of(regular, 0.001) == pytest.approx(0.05)
    assert mix.open_share_of(regular, 30.0) == pytest.approx(0.5)
    assert mix.open_share_of(_state({}, []), 0.001) == 1.0


def test_every_prefix_of_the_list_keeps_the_shares() -> None:
    index = _index()
    scores = np.asarray([3.0 if c.startswith("c0") else 1.0 for c in index.ids])  # model: cat0
    scores += np.linspace(0, 0.1, len(scores))
    allowed = np.ones(len(scores), dtype=bool)
    shares = {"cat0": 0.25, "cat1": 0.75}
    picked = shared_out(index, scores, allowed, shares, 20, open_share=0.0)
    cats = [index.leaves[p][0] for p in picked]
    assert len(set(picked.tolist())) == 20
    for n in (4, 8, 12, 20):
        assert cats[:n].count("cat1") == pytest.approx(0.75 * n, abs=1)
    # Within a category the model's order is kept.
    ones = [p for p in picked if index.leaves[p][0] == "cat1"]
    assert [scores[p] for p in ones] == sorted((scores[p] for p in ones), reverse=True)


def test_the_open_share_is_the_models_own_and_exhausted_buckets_give_way() -> None:
    index = _index(per=5)
    scores = np.asarray([3.0 if c.startswith("c3") else 1.0 for c in index.ids])
    allowed = np.ones(len(scores), dtype=bool)
    allowed[[index.position[f"c1-i{i}"] for i in range(3)]] = False  # two cat1 items left
    picked = shared_out(index, scores, allowed, {"cat1": 1.0}, 10, open_share=0.5)
    cats = [index.leaves[p][0] for p in picked]
    assert cats.count("cat1") == 2 and cats.count("cat3") == 5  # the model's favourites
    assert len(picked) == 10 and not set(picked.tolist()) & {index.position["c1-i0"]}


def _own_index() -> ItemIndex:
    """Category ``cat1``: two items of the user's, one near each of them, one near neither;
    ``cat2``: three items the user never touched."""
    vectors = {
        "own-new": [1, 0, 0, 0], "own-old": [0, 1, 0, 0], "near-old": [0, 1, 0.2, 0],
        "near-new": [1, 0, 0.2, 0], "far": [0, 0, 1, 0],
        "x0": [0, 0, 0, 1], "x1": [0, 0.3, 0, 1], "x2": [0.3, 0, 0, 1],
    }  # fmt: skip
    rows = [
        ItemVectorRow(item_id=i, title=None, embedding=[float(x) for x in v], prior=0.0,
                      categories=(c,), leaves=(c,), brands=())
        for i, v in vectors.items() for c in ["cat2" if i.startswith("x") else "cat1"]
    ]  # fmt: skip
    return ItemIndex.from_rows("v1", rows)


def test_a_category_is_ordered_by_the_users_own_items_in_it() -> None:
    """Within a category the user's own items there decide, the newest weighing most; the
    model's scores (here: a user vector that points elsewhere) order only a category the user
    has no items in."""
    index = _own_index()
    now = 100 * DAY_MS
    state = RecommendState(
        version="v1", revision=0, embedding=None, categories=(("cat1", 10.0), ("cat2", 1.0)),
        seen=(("own-new", True), ("own-old", True)), fresh=(),
        seen_ms=(now, now - 60 * DAY_MS), seen_weight=(8.0, 8.0),
    )  # fmt: skip
    model = {"far": 3.0, "near-old": 2.0, "near-new": 1.0, "x0": 1.0, "x1": 3.0, "x2": 2.0}
    scores = np.asarray([model.get(i, 0.0) for i in index.ids])
    allowed = ~np.isin(np.arange(len(index.ids)), index.positions(["own-new", "own-old"]))
    orders = category_orders(index, state, {"cat1", "cat2"}, HALF_LIFE_MS, (3.0, 0.0), scores)
    assert set(orders) == {"cat1"}  # no own item in cat2: the model's order holds there
    picked = shared_out(index, scores, allowed, {"cat1": 1.0}, 3, 0.0, orders)
    assert [index.ids[p] for p in picked] == ["near-new", "near-old", "far"]
    picked = shared_out(index, scores, allowed, {"cat2": 1.0}, 3, 0.0, orders)
    assert [index.ids[p] for p in picked] == ["x1", "x2", "x0"]
    # Without the user's own items the model's order would have ranked them backwards.
    picked = shared_out(index, scores, allowed, {"cat1": 1.0}, 3, 0.0)
    assert [index.ids[p] for p in picked] == ["far", "near-old", "near-new"]


def test_the_popularity_prior_adds_to_a_categorys_order() -> None:
    index = _own_index()
    index.prior[index.position["far"]] = 2.0  # far from the user's items, but everyone's
    state = RecommendState(
        version="v1", revision=0, embedding=None, categories=(("cat1", 10.0),),
        seen=(("own-new", True),), fresh=(), seen_ms=(0,), seen_weight=(8.0,),
    )  # fmt: skip
    orders = category_orders(index, state, {"cat1"}, HALF_LIFE_MS, (3.0, 0.0), np.zeros(6))
    allowed = np.ones(len(index.ids), dtype=bool)
    allowed[index.position["own-new"]] = False
    picked = shared_out(index, np.zeros(len(index.ids)), allowed, {"cat1": 1.0}, 2, 0.0, orders)
    assert [index.ids[p] for p in picked] == ["far", "near-new"]


def test_a_category_just_entered_is_ordered_by_popularity_until_the_user_shows_taste() -> None:
    """Popularity is a prior worth kappa own items: with one item in the category its most
    popular items lead; with many items near one corner of it, that corner leads."""
    rng = np.random.default_rng(1)
    corner = rng.normal(size=8)
    rows = [ItemVectorRow(item_id=f"i{k}", title=None, prior=0.0, categories=("cat",),
                          leaves=("cat",), brands=(), log_degree=float(np.log1p(1000 // (k + 1))),
                          embedding=(corner * (3.0 if k >= 20 else 0.0)
                                     + rng.normal(size=8)).tolist())
            for k in range(30)]  # fmt: skip
    index = ItemIndex.from_rows("v1", rows)  # i0 most popular; i20..i29 near the corner

    def top5(own: list[str]) -> list[int]:
        state = RecommendState(
            version="v1", revision=0, embedding=None, categories=(("cat", 1.0),),
            seen=tuple((i, True) for i in own), fresh=(),
            seen_ms=tuple(0 for _ in own), seen_weight=tuple(1.0 for _ in own),
        )  # fmt: skip
        orders = category_orders(index, state, {"cat"}, HALF_LIFE_MS, (3.0, 0.0), np.zeros(30))
        allowed = ~np.isin(np.arange(30), index.positions(own))
        picked = shared_out(index, np.zeros(30), allowed, {"cat": 1.0}, 5, 0.0, orders)
        return [int(index.ids[p][1:]) for p in picked]

    assert max(top5(["i20"])) < 10  # one item: the popular head
    # A clear taste (30 items in the corner): the corner's other four items lead.
    assert sorted(top5([f"i{k}" for k in range(20, 26)] * 5)[:4]) == [26, 27, 28, 29]


def test_the_models_share_of_a_category_order_follows_beta() -> None:
    """``beta`` 1: the service's scores order the category; 0: the user's own items do."""
    index = _own_index()
    state = RecommendState(
        version="v1", revision=0, embedding=None, categories=(("cat1", 10.0),),
        seen=(("own-new", True),), fresh=(), seen_ms=(0,), seen_weight=(8.0,),
    )  # fmt: skip
    model = {"far": 3.0, "near-old": 2.0, "near-new": 1.0}
    scores = np.asarray([model.get(i, 0.0) for i in index.ids])
    allowed = np.ones(len(index.ids), dtype=bool)
    allowed[index.position["own-new"]] = False

    def top(beta: float) -> list[str]:
        orders = category_orders(index, state, {"cat1"}, HALF_LIFE_MS, (0.0, beta), scores)
        picked = shared_out(index, scores, allowed, {"cat1": 1.0}, 2, 0.0, orders)
        return [index.ids[p] for p in picked]

    assert top(0.0)[0] == "near-new"
    assert top(1.0) == ["far", "near-old"]


def test_settings_override_the_versions_chosen_order() -> None:
    index = _own_index()
    index.category_order = StoredCategoryOrder(popularity_events=30.0, model_weight=0.25)
    assert IntentMix().order_of(index) == (30.0, 0.25)
    assert IntentMix(popularity_events=0.0, model_weight=1.0).order_of(index) == (0.0, 1.0)
    index.category_order = StoredCategoryOrder()  # a version trained before the choice
    assert IntentMix().order_of(index) == (0.0, 0.0)


def test_the_model_picks_only_outside_the_shared_categories_so_shares_never_fall() -> None:
    """A category holds exactly its share whatever the model favours, so as its evidence
    grows its count never falls, however the model's favourites move between events."""
    index = _index()
    allowed = np.ones(len(index.ids), dtype=bool)
    rng = np.random.default_rng(0)
    counts = []
    for p in np.linspace(0.1, 0.9, 9):
        scores = rng.normal(size=len(index.ids))  # the model's view moves with every event
        scores[[k for k, i in enumerate(index.ids) if i.startswith("c1")]] += rng.uniform(0, 3)
        picked = shared_out(index, scores, allowed, {"cat1": p, "cat0": 1 - p}, 20, 0.2)
        cats = [index.leaves[k][0] for k in picked]
        assert cats.count("cat1") + cats.count("cat0") == 16  # the model's 4: elsewhere
        counts.append(cats.count("cat1"))
    assert counts == sorted(counts) and counts[0] < counts[-1], counts
