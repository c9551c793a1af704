"""The users' spread over categories, read from a real server, and the rate fitted to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.ingest.importer import import_events, import_items
from app.ingest.validation import IntakeLimits
from app.serving.novelty import fit_focus, fit_new_category_rate
from graphdb.category_spread import CategoryContinuity
from graphdb.fold import FoldConfig
from graphdb.store import GraphStore

NOW = datetime.now(UTC).replace(microsecond=0)


def _items() -> list[dict[str, object]]:
    return [{"item_id": f"{c}-{i}", "title": f"{c} {i}", "category_path": ["Shop", c]}
            for c in ("tea", "pans", "maps") for i in range(4)]  # fmt: skip


def _events(user: str, items: list[str]) -> list[dict[str, object]]:
    return [{"user_id": user, "item_id": item, "type": "view",
             "ts": (NOW - timedelta(hours=n)).isoformat()}
            for n, item in enumerate(items)]  # fmt: skip


def test_each_user_counts_their_items_and_the_leaves_they_lie_in(store: GraphStore) -> None:
    import_items(store, _items(), progress=False)
    events = (
        _events("keeper", ["tea-0", "tea-1", "tea-2"])
        + _events("wanderer", ["tea-0", "pans-1", "maps-2"])
        + _events("twin", ["tea-3", "tea-0", "tea-1"])
        + _events("once", ["maps-0"])  # one item says nothing: left out
    )
    import_events(store, events, FoldConfig(), IntakeLimits(), progress=False)
    spread = store.reads.category_spread()
    # Items lie in their leaf ("Shop/tea"); the parent "Shop" is not counted a second time.
    assert spread.rows == ((3, 1, 2), (3, 3, 1))
    rate = fit_new_category_rate(spread)
    assert rate is not None and 0 < rate < 10
    # In time order each user has two consecutive pairs; the keeper's and the twin's stay in
    # tea, the wanderer's never stay.
    assert store.reads.category_continuity() == CategoryContinuity(pairs=6, stays=4)


def test_a_graph_without_users_gives_nothing_to_fit(store: GraphStore) -> None:
    import_items(store, _items(), progress=False)
    assert store.reads.category_spread().rows == ()
    assert fit_new_category_rate(store.reads.category_spread()) is None
    assert store.reads.category_continuity() == CategoryContinuity()
    assert fit_focus(store.reads.category_continuity()) is None
