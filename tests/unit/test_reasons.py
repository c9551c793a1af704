"""Reasons given with recommendations say what the graph says: "similar to X" only when X is
near the item, and categories by their names."""

from __future__ import annotations

import numpy as np

from app.serving.item_index import ItemIndex, near_cosine
from app.serving.recommend import ReasonContext, explained_items
from graphdb.reads import ItemVectorRow

CLUSTERS, SIZE = 100, 4


def _clustered_index(seed: int = 0) -> ItemIndex:
    """100 tight clusters of 4 items each in 16 dimensions, cluster ``c`` in category
    ``cat-c``: items of a cluster are near each other, few pairs of items are."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLUSTERS, 16))
    rows = [
        ItemVectorRow(
            item_id=f"c{c}-i{i}", title=f"item {c}-{i}",
            embedding=(centres[c] + 0.05 * rng.normal(size=16)).tolist(), prior=0.0,
            categories=(f"cat-{c}",), leaves=(f"cat-{c}",), brands=(),
        )
        for c in range(CLUSTERS) for i in range(SIZE)
    ]  # fmt: skip
    return ItemIndex.from_rows("v1", rows)


def test_near_is_read_from_the_model_itself() -> None:
    index = _clustered_index()
    cosines = index.unit @ index.unit.T
    cluster = np.arange(CLUSTERS * SIZE) // SIZE
    same = cluster[:, None] == cluster[None, :]
    within = cosines[same & ~np.eye(len(cluster), dtype=bool)]
    across = cosines[~same]
    # Items of one cluster are near each other; only the closest 1 % of the others are.
    assert within.min() > index.near > np.quantile(across, 0.98)
    noise = np.random.default_rng(1).normal(size=(500, 64)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    assert 0.0 < near_cosine(noise) < 0.5  # random directions: only a high cosine is near


def test_similar_to_only_when_the_bought_item_is_near() -> None:
    index = _clustered_index()
    centre = index.unit.reshape(CLUSTERS, SIZE, -1).mean(axis=1)
    # A cluster that is like the user's item (a positive cosine) but not near it: the old rule
    # ("similar to X" whenever the cosine was positive) named X here.
    likeness = centre @ centre[0] / np.linalg.norm(centre, axis=1) / np.linalg.norm(centre[0])
    far = int(np.argmax(np.where(likeness < index.near - 0.1, likeness, -1.0)))
    assert likeness[far] > 0.3
    context = ReasonContext(
        own=np.asarray([index.position["c0-i0"]]), own_bought=np.asarray([True]),
        liked={f"cat-{far}": "Coffee Makers"},
    )  # fmt: skip
    picks = index.positions(["c0-i3", f"c{far}-i2"])
    same, other = explained_items(index, picks, np.asarray([0.9, 0.8]), context)
    assert [r["type"] for r in same["reasons"]] == ["similar_to_item"]
    assert same["reasons"][0]["text"] == "similar to item 0-0 you bought"
    # Far from anything the user had: no "similar to", only what is true, by its name.
    assert other["reasons"] == [
        {"type": "category_you_like", "category_id": f"cat-{far}",
         "text": "in Coffee Makers, a category you like"}
    ]  # fmt: skip
