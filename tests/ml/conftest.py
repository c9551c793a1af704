"""Small synthetic graphs shared by the ml tests."""

from __future__ import annotations

import numpy as np
import pytest

from ml.data import InteractionGraph


def planted_graph(
    n_users: int = 120,
    n_items: int = 80,
    blocks: int = 4,
    per_user: int = 8,
    seed: int = 0,
    features: bool = False,
) -> tuple[InteractionGraph, np.ndarray, np.ndarray]:
    """Users interact only with items of their own block; items optionally carry their block
    (plus a shared noise feature) as content features.

    Returns:
        The graph, the block of every user and the block of every item.
    """
    rng = np.random.default_rng(seed)
    user_block = np.arange(n_users) % blocks
    item_block = np.arange(n_items) % blocks
    users, items = [], []
    for user in range(n_users):
        candidates = np.flatnonzero(item_block == user_block[user])
        users.append(np.full(per_user, user))
        items.append(rng.choice(candidates, per_user, replace=False))
    ptr = index = None
    if features:
        # feature b = block b, feature `blocks` = present on every item (uninformative)
        index = np.stack([item_block, np.full(n_items, blocks)], axis=1).ravel()
        ptr = np.arange(0, 2 * n_items + 1, 2)
    graph = InteractionGraph(
        n_users=n_users,
        n_items=n_items,
        user_index=np.concatenate(users),
        item_index=np.concatenate(items),
        weight=rng.uniform(0.5, 2.0, n_users * per_user),
        ts=rng.integers(0, 10_000, n_users * per_user),
        item_feature_ptr=ptr,
        item_feature_index=index,
        n_features=blocks + 1 if features else 0,
    )
    return graph, user_block, item_block


@pytest.fixture
def planted() -> tuple[InteractionGraph, np.ndarray, np.ndarray]:
    """A 4-block planted graph without features."""
    return planted_graph()


@pytest.fixture
def planted_with_features() -> tuple[InteractionGraph, np.ndarray, np.ndarray]:
    """A 4-block planted graph whose items carry their block as a feature."""
    return planted_graph(features=True)


@pytest.fixture
def make_planted():
    """Factory fixture: ``make_planted(**kwargs)`` builds a custom planted graph."""
    return planted_graph
