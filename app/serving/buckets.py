"""A list assembled from buckets, each holding a share of every prefix of it.

:func:`app.serving.intent.category_shares` says what share of a user's list each of their
categories should hold, and how much is left to the model's scores over the whole catalogue
(:data:`FREE`); a share of the model's own picks outside those categories (:data:`OPEN`)
leaves room for an interest the graph has no edge for yet. :func:`shared_out` fills the
positions so that the top 5 are as proportional as the top 100.
"""

from __future__ import annotations

import numpy as np

from app.serving.item_index import ItemIndex

# Bucket keys beside the category ids (no category id is empty or starts with a NUL).
OPEN = ""  # the model's best items outside the user's categories
FREE = "\x00free"  # the model's best items anywhere: the part of a list not shared out


def shared_out(
    index: ItemIndex,
    scores: np.ndarray,
    allowed: np.ndarray,
    shares: dict[str, float],
    n: int,
    open_share: float,
    orders: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """``n`` positions in list order: every prefix shares its slots out as ``shares`` say.

    ``open_share`` of the slots are the model's own (its best items outside the categories of
    ``shares``); the rest go to the categories of ``shares``, each filled by its best items:
    by ``orders[c]`` where given (:func:`app.serving.intent.category_orders`), else by
    ``scores``. ``shares[FREE]``, where present, goes to the best ``scores`` anywhere.
    Position by position, the bucket furthest behind its share takes the next slot (largest
    deficit first). A bucket with nothing left drops out and the others fill in.
    """
    masked = np.where(allowed, scores, -np.inf)
    categories = [c for c in shares if c != FREE]
    covered = np.zeros(len(masked), dtype=bool)
    for category in categories:
        covered |= index.leaf_mask(category)
    orders = orders or {}
    queues = {
        c: list(_best(np.where(allowed & index.leaf_mask(c), orders.get(c, scores), -np.inf), n))
        for c in categories
    }
    if FREE in shares:
        queues[FREE] = list(_best(masked, n))
    queues[OPEN] = list(_best(np.where(covered, -np.inf, masked), n))
    target = {c: (1.0 - open_share) * p for c, p in shares.items()} | {OPEN: open_share}
    return _fill(queues, target, n)


def _fill(queues: dict[str, list[int]], target: dict[str, float], n: int) -> np.ndarray:
    """Up to ``n`` items, each slot from the live bucket furthest behind its target share."""
    taken = {c: 0 for c in target}
    chosen: list[int] = []
    used: set[int] = set()
    while len(chosen) < n:
        for queue in queues.values():  # an item another bucket took is not offered twice
            while queue and queue[0] in used:
                queue.pop(0)
        live = sorted(c for c in target if queues[c])  # by name: ties break the same way
        if not live:
            break
        step = len(chosen) + 1
        bucket = max(live, key=lambda c: (target[c] * step - taken[c], target[c]))
        item = queues[bucket].pop(0)
        chosen.append(item)
        used.add(item)
        taken[bucket] += 1
    return np.asarray(chosen, dtype=np.int64)


def _best(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` best finite scores, best first (fewer if fewer are finite)."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if n < len(scores):
        top = np.argpartition(scores, len(scores) - n)[len(scores) - n :]
    else:
        top = np.arange(len(scores))
    top = top[np.isfinite(scores[top])]
    return top[np.lexsort((top, -scores[top]))].astype(np.int64)
