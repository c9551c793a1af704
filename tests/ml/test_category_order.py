"""The within-category order is chosen by what the holdout shows: popularity where shoppers
pick by popularity, the user's own items where each has a taste of their own."""

from __future__ import annotations

import numpy as np

from ml.category_order import OrderInputs, choose_category_order, order_weights
from ml.data import CSRMatrix, InteractionGraph
from ml.popularity import item_log_degree

LEAVES, PER_LEAF, USERS, HISTORY = 3, 30, 240, 8


def _shop(pick: str, seed: int = 0) -> tuple[OrderInputs, InteractionGraph, CSRMatrix]:
    """Users each shop in one leaf: by popularity (``pick="crowd"``) or within one of the
    leaf's three taste clusters, uniformly (``pick="taste"``); the last pick is held out."""
    rng = np.random.default_rng(seed)
    n_items = LEAVES * PER_LEAF
    cluster = np.arange(n_items) % 3
    centres = rng.normal(size=(3, 16))
    item_vec = centres[cluster] + 0.3 * rng.normal(size=(n_items, 16))
    if pick == "crowd":
        item_vec = rng.normal(size=(n_items, 16))  # the vectors know nothing
    popularity = np.arange(1, PER_LEAF + 1, dtype=np.float64) ** -1.2
    users, items, held = [], [], []
    for u in range(USERS):
        leaf = int(rng.integers(LEAVES))
        rows = leaf * PER_LEAF + np.arange(PER_LEAF)
        if pick == "crowd":
            p = popularity / popularity.sum()
        else:
            p = (cluster[rows] == rng.integers(3)).astype(np.float64)
            p /= p.sum()
        chosen = rng.choice(rows, size=HISTORY + 1, replace=False, p=p)
        users += [u] * HISTORY
        items += chosen[:HISTORY].tolist()
        held.append(int(chosen[HISTORY]))
    train = InteractionGraph(
        n_users=USERS, n_items=n_items, user_index=np.asarray(users),
        item_index=np.asarray(items), weight=np.ones(len(users), np.float32),
        ts=np.tile(np.arange(HISTORY), USERS).astype(np.int64),
    )  # fmt: skip
    targets = CSRMatrix.from_pairs(np.arange(USERS), np.asarray(held), USERS, n_items)
    leaves = CSRMatrix.from_pairs(np.arange(n_items), np.arange(n_items) // PER_LEAF,
                                  n_items, LEAVES)  # fmt: skip
    log_degree = item_log_degree(train)
    inputs = OrderInputs(
        user_vec=rng.normal(size=(USERS, 16)), item_vec=item_vec,
        prior=np.zeros(n_items), log_degree=log_degree, leaves=leaves, half_life_ms=1e9,
    )  # fmt: skip
    return inputs, train, targets


def test_a_shop_that_picks_by_popularity_gets_popularity_order() -> None:
    inputs, train, targets = _shop("crowd")
    order = choose_category_order(inputs, train, targets)
    assert order.cases == USERS
    assert order.popularity_events >= 10
    assert order.model_weight == 0.0  # the users' vectors here are noise
    assert order.ndcg > order.default_ndcg + 0.05


def test_a_shop_of_tastes_keeps_the_own_items_order() -> None:
    inputs, train, targets = _shop("taste")
    order = choose_category_order(inputs, train, targets)
    assert order.popularity_events <= 3
    assert order.model_weight <= 0.25
    assert order.ndcg >= order.default_ndcg
    # Far above what popularity alone achieves in such a shop.
    crowd_only = choose_category_order(
        OrderInputs(
            inputs.user_vec, np.random.default_rng(1).normal(size=inputs.item_vec.shape),
            inputs.prior, inputs.log_degree, inputs.leaves, inputs.half_life_ms,
        ), train, targets,
    )  # fmt: skip
    assert order.ndcg > crowd_only.ndcg + 0.1


def test_no_categories_means_nothing_to_choose() -> None:
    inputs, train, targets = _shop("crowd")
    empty = CSRMatrix.from_pairs(np.zeros(0, np.int64), np.zeros(0, np.int64),
                                 train.n_items, 0)  # fmt: skip
    bare = OrderInputs(inputs.user_vec, inputs.item_vec, inputs.prior, inputs.log_degree,
                       empty, inputs.half_life_ms)  # fmt: skip
    order = choose_category_order(bare, train, targets)
    assert (order.popularity_events, order.model_weight, order.cases) == (0.0, 0.0, 0)
    assert "category_order_ndcg" not in order.as_metrics()


def test_order_weights_move_from_popularity_to_taste_with_evidence() -> None:
    assert order_weights(0, 3.0, 0.0) == (0.0, 1.0, 0.0)
    own, crowd, model = order_weights(9, 3.0, 0.5)
    assert np.isclose(own, 0.375) and np.isclose(crowd, 0.125) and model == 0.5
    assert order_weights(5, 0.0, 0.0) == (1.0, 0.0, 0.0)
