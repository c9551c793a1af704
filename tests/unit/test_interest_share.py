"""How much of a list the categories share out: the ``FREE`` part and the per-version choice
of ``lambda`` on the training holdout (numpy only, tiny shops)."""

from __future__ import annotations

import numpy as np
import pytest

from app.serving.buckets import FREE, shared_out
from app.serving.intent import IntentMix, category_shares
from app.serving.item_index import ItemIndex
from app.training.sharing import HoldoutLists, _pick, choose_interest_share
from graphdb.category_order import StoredCategoryOrder
from graphdb.reads import RecommendState
from ml.data import CSRMatrix, InteractionGraph

DAY_MS = 86_400_000
HALF_LIFE_MS = 30 * DAY_MS
CATEGORIES, PER = 4, 30


def _index(seed: int = 0) -> ItemIndex:
    rng = np.random.default_rng(seed)
    unit = rng.normal(size=(CATEGORIES * PER, 8)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    leaves = [[f"cat{k // PER}"] for k in range(CATEGORIES * PER)]
    return ItemIndex(
        version="v1", ids=[f"i{k}" for k in range(len(unit))], titles=[None] * len(unit),
        unit=unit, categories=leaves, leaves=leaves, brands=[[] for _ in leaves],
        prior=np.zeros(len(unit), dtype=np.float32),
        log_degree=np.zeros(len(unit), dtype=np.float32),
    )  # fmt: skip


def _state(weights: dict[str, float]) -> RecommendState:
    return RecommendState(
        version="v1", revision=0, embedding=None, categories=tuple(weights.items()),
        seen=(), fresh=(), category_last_ms=dict.fromkeys(weights, DAY_MS),
    )  # fmt: skip


def test_a_share_below_one_gives_the_rest_of_the_long_term_part_to_the_scores() -> None:
    index = _index()
    state = _state({"cat0": 3.0, "cat1": 1.0})
    full = category_shares(state, index, IntentMix(), HALF_LIFE_MS)
    assert full == pytest.approx({"cat0": 0.75, "cat1": 0.25})
    half = category_shares(state, index, IntentMix(interest_share=0.5), HALF_LIFE_MS)
    assert half == pytest.approx({"cat0": 0.375, "cat1": 0.125, FREE: 0.5})
    # The version's stored choice applies where the setting is unset, and the setting wins.
    index.category_order = StoredCategoryOrder(interest_share=0.0)
    assert category_shares(state, index, IntentMix(), HALF_LIFE_MS) == {FREE: 1.0}
    assert category_shares(state, index, IntentMix(interest_share=1.0), HALF_LIFE_MS) == full


def test_the_free_part_takes_the_best_scores_anywhere() -> None:
    index = _index()
    scores = np.arange(len(index.ids), dtype=np.float64)  # the last category scores best
    allowed = np.ones(len(scores), dtype=bool)
    picked = shared_out(index, scores, allowed, {"cat0": 0.5, FREE: 0.5}, 10, 0.0)
    leaves = [index.leaves[p][0] for p in picked]
    assert leaves.count("cat0") == 5
    assert sorted(p for p in picked if leaves[list(picked).index(p)] != "cat0") == list(
        range(115, 120)
    )
    assert len(set(picked.tolist())) == 10


def test_full_sharing_stays_unless_another_share_is_clearly_better() -> None:
    rng = np.random.default_rng(0)
    base = (rng.random(1000) < 0.2).astype(float)
    noisy = base.copy()
    noisy[rng.choice(1000, 3, replace=False)] = 1.0  # a few hits more: noise, not evidence
    pairs = [(1.0, 1.0), (0.5, 1.0), (0.0, 1.0)]
    moved = np.arange(1000) % 10 == 0  # 100 held-out items outside the top category
    assert (
        _pick(np.stack([base, noisy, base, base], axis=1), moved, pairs, False).interest_share
        == 1.0
    )
    better = np.maximum(base, (rng.random(1000) < 0.2).astype(float))
    choice = _pick(np.stack([base, base, better, better], axis=1), moved, pairs, True)
    assert (choice.interest_share, choice.session_share) == (0.0, 1.0)
    assert choice.hit_rates is not None
    assert choice.hit_rates[0.0, 1.0] > choice.hit_rates[1.0, 1.0]
    assert choice.as_metrics()["category_interest_share"] == 0.0
    assert choice.as_metrics()["category_share_hr_0_1"] == choice.hit_rates[0.0, 1.0]
    assert choice.as_metrics()["category_share_moved_cases"] == 100.0


def test_sharing_less_must_also_follow_the_moved_cases() -> None:
    """A stationary holdout (users kept to one category) cannot lower the shares: the lists
    must keep following a move, which only moved cases can judge."""
    rng = np.random.default_rng(1)
    base = (rng.random(1000) < 0.2).astype(float)
    better = np.maximum(base, (rng.random(1000) < 0.2).astype(float))
    pairs = [(1.0, 1.0), (0.0, 1.0)]
    hits = np.stack([base, better, base], axis=1)
    none_moved = np.zeros(1000, dtype=bool)
    assert _pick(hits, none_moved, pairs, False).interest_share == 1.0
    moved = np.arange(1000) < 100
    assert _pick(hits, moved, pairs, False).interest_share == 0.0
    worse_when_moved = hits.copy()
    worse_when_moved[:100, :2] = 0.0
    worse_when_moved[:10, 0] = 1.0  # full sharing wins 10 of the moved cases, the other none
    diff = worse_when_moved[:, 1] - worse_when_moved[:, 0]
    assert diff.mean() > 2 * diff.std(ddof=1) / np.sqrt(len(diff))  # still better overall
    assert _pick(worse_when_moved, moved, pairs, False).interest_share == 1.0


def _holdout_shop(next_in_own_category: bool, users: int = 240) -> tuple[HoldoutLists, CSRMatrix]:
    """Users with 6 items in cat0 whose next item is either cat0's item nearest their own
    items or the model's 16th best item elsewhere (their vector points at another taste)."""
    index = _index()
    rng = np.random.default_rng(1)
    user_vec = rng.normal(size=(users, 8)).astype(np.float32)
    user_vec /= np.linalg.norm(user_vec, axis=1, keepdims=True)
    rows, cols, targets = [], [], []
    for u in range(users):
        own = rng.choice(PER, 6, replace=False)
        rows += [u] * 6
        cols += own.tolist()
        if next_in_own_category:
            direction = index.unit[own].sum(axis=0)
            near = np.argsort(-(index.unit[:PER] @ direction))
            targets.append(int(next(k for k in near if k not in own)))
        else:
            scores = index.unit[PER:] @ user_vec[u]
            targets.append(PER + int(np.argsort(-scores)[15]))
    n_items = len(index.ids)
    train = InteractionGraph(
        n_users=users, n_items=n_items, user_index=np.asarray(rows), item_index=np.asarray(cols),
        weight=np.ones(len(rows), dtype=np.float32),
        ts=np.asarray([DAY_MS * (k % 6) for k in range(len(rows))]),  # a day apart: no session
        user_ids=[f"u{u}" for u in range(users)], item_ids=list(index.ids),
    )  # fmt: skip
    held = CSRMatrix.from_pairs(np.arange(users), np.asarray(targets), users, n_items)
    lists = HoldoutLists(index, user_vec, train, index.leaves, None, 0.0, HALF_LIFE_MS)
    return lists, held


def test_the_holdout_keeps_the_categories_where_users_keep_to_them() -> None:
    lists, held = _holdout_shop(next_in_own_category=True)
    choice = choose_interest_share(lists, held, IntentMix())
    assert choice.interest_share == 1.0
    assert choice.hit_rates is not None and choice.hit_rates[1.0, 1.0] > 0.9
    assert choice.scores_alone < 0.5


def test_the_holdout_frees_the_list_where_the_scores_know_better() -> None:
    lists, held = _holdout_shop(next_in_own_category=False)
    choice = choose_interest_share(lists, held, IntentMix())
    assert choice.interest_share == 0.0
    assert (
        choice.hit_rates is not None
        and choice.hit_rates[0.0, 1.0] > 0.5 > choice.hit_rates[1.0, 1.0]
    )
    assert choice.cases == 240


def test_too_few_cases_keep_full_sharing() -> None:
    lists, held = _holdout_shop(next_in_own_category=False, users=50)
    choice = choose_interest_share(lists, held, IntentMix())
    assert choice.interest_share == 1.0 and choice.cases == 50
    assert choice.hit_rates is not None and choice.hit_rates[0.0, 1.0] > choice.hit_rates[1.0, 1.0]


def test_the_session_share_scales_what_a_moved_focus_takes() -> None:
    index = _index()
    # Three items of cat2 in the current session after a long history in cat0.
    state = RecommendState(
        version="v1", revision=0, embedding=None, categories=(("cat0", 20.0), ("cat2", 3.0)),
        seen=tuple((f"i{2 * PER + k}", False) for k in range(3)), fresh=(),
        category_last_ms={"cat0": DAY_MS, "cat2": DAY_MS},
        seen_ms=(DAY_MS, DAY_MS - 60_000, DAY_MS - 120_000), seen_weight=(1.0, 1.0, 1.0),
    )  # fmt: skip
    full = category_shares(state, index, IntentMix(focus=0.8), HALF_LIFE_MS)
    none = category_shares(state, index, IntentMix(focus=0.8, session_share=0.0), HALF_LIFE_MS)
    half = category_shares(state, index, IntentMix(focus=0.8, session_share=0.5), HALF_LIFE_MS)
    assert full["cat2"] > 0.7  # the session moved the list
    assert none == pytest.approx({"cat0": 20 / 23, "cat2": 3 / 23})  # the interests alone
    assert none["cat2"] < half["cat2"] < full["cat2"]
