"""A seeded, self-contained demo shop for machines without ``../shared/data``.

The model, in short (details in ``docs/datasets.md``):

* a 3-level category tree (8 departments, 40 leaves) with invented brands, and items whose
  popularity follows a Zipf law, so a few bestsellers take most of the traffic;
* users with very different activity levels (Pareto), each preferring a few leaves; for a share of
  users the main preference moves to another department part-way through their history (drift);
* sessions that run a view -> click -> cart -> purchase funnel with realistic drop-off, occasional
  favourites, and ratings / short reviews some days after a purchase whose text agrees with the
  stars; everything falls in the ``days`` before ``now``.

The same arguments always give the same output (one ``random.Random(seed)`` drives everything).
"""

from __future__ import annotations

import hashlib
import heapq
import random
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from typing import NamedTuple

import numpy as np

from app.ingest.sources import demo_catalog as vocab
from app.ingest.sources.demo_plan import plan_sessions, plan_users
from app.ingest.sources.stream import DatasetStream, Event, Item, rfc3339

ZIPF_EXPONENT = 1.1  # item popularity ~ 1 / rank^s
EXPLORE_PROBABILITY = 0.15  # share of sessions outside the user's preferences
EVENTS_PER_SESSION = 4.0  # measured mean of the funnel below; sizes the session budget
CLICK_RATE, CART_RATE, PURCHASE_RATE = 0.32, 0.28, 0.55  # each step given the previous one
FAVORITE_RATE = 0.06  # of clicked items
RATING_RATE, REVIEW_RATE = 0.22, 0.10  # of purchases, some days later


@dataclass(frozen=True)
class _DemoItem:
    index: int
    noun: str
    quality: float  # latent: drives ratings
    in_stock: bool
    record: Item


class _Row(NamedTuple):
    """A compact event, held until no later session can precede it."""

    ts: int
    user: int
    seq: int
    item: int
    kind: str
    value: float | None
    text: str | None
    session: str | None


@dataclass
class _Catalog:
    items: list[_DemoItem]
    leaf_items: dict[int, list[int]] = field(default_factory=dict)
    leaf_cum_weights: dict[int, list[float]] = field(default_factory=dict)
    all_cum_weights: list[float] = field(default_factory=list)
    leaf_of: list[int] = field(default_factory=list)

    def pick_in_leaf(self, rng: random.Random, leaf: int) -> int:
        weights = self.leaf_cum_weights[leaf]
        return self.leaf_items[leaf][bisect_right(weights, rng.random() * weights[-1])]

    def pick_any(self, rng: random.Random) -> int:
        return bisect_right(self.all_cum_weights, rng.random() * self.all_cum_weights[-1])


@dataclass(frozen=True)
class DemoShape:
    """The size of a demo shop (``interest-graph import demo --users --items --events``)."""

    n_users: int = 500
    n_items: int = 400
    n_events: int = 30_000
    seed: int = 42

    def stream(self, now: datetime | None = None) -> DatasetStream:
        return demo_stream(self.n_users, self.n_items, self.n_events, self.seed, now=now)


def demo_stream(
    n_users: int = 500,
    n_items: int = 400,
    n_events: int = 30_000,
    seed: int = 42,
    now: datetime | None = None,
    days: int = 90,
    drift_share: float = 0.6,
) -> DatasetStream:
    """A demo shop as a :class:`DatasetStream`; pass ``now`` for byte-identical reruns.

    ``n_events`` is a target (the funnel is random, expect +-10 %). ``drift_share`` is the
    share of users whose main interest moves to another department mid-history.
    """
    if n_users < 1 or n_items < len(vocab.LEAVES) or n_events < 1 or days < 1:
        raise ValueError(f"need n_users>=1, n_items>={len(vocab.LEAVES)}, n_events>=1, days>=1")
    moment = now or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    end = int(moment.timestamp())
    # Event ids carry a digest of every argument: two different demo runs never share an id
    # (which would make the second import skip events), while a rerun reproduces them exactly.
    arguments = (n_users, n_items, n_events, seed, end, days, drift_share)
    run_key = hashlib.sha1(repr(arguments).encode()).hexdigest()[:8]

    def items() -> Iterator[Item]:
        for item in _build_catalog(random.Random(seed), n_items).items:
            yield item.record

    def events() -> Iterator[Event]:
        rng = random.Random(seed)
        catalog = _build_catalog(rng, n_items)
        rows = _simulate(rng, catalog, n_users, n_events, end - days * 86_400, end, drift_share)
        for row in rows:
            yield _row_to_event(row, catalog, run_key)

    return DatasetStream(
        name="demo",
        make_items=items,
        make_events=events,
        count_items=lambda: n_items,
        count_events=lambda: n_events,
        description=f"demo shop (seed={seed}, users={n_users}, items={n_items})",
    )


def _row_to_event(row: _Row, catalog: _Catalog, run_key: str) -> Event:
    event: Event = {
        "event_id": f"demo:{run_key}:{row.user}:{row.seq}",
        "user_id": f"demo:u{row.user}",
        "item_id": catalog.items[row.item].record["item_id"],
        "type": row.kind,
        "ts": rfc3339(row.ts),
    }
    if row.value is not None:
        event["value"] = row.value
    if row.text is not None:
        event["text"] = row.text
    if row.session is not None:
        event["session_id"] = row.session
    return event


# --------------------------------------------------------------------------- catalog


def _build_catalog(rng: random.Random, n_items: int) -> _Catalog:
    leaves = vocab.LEAVES
    # Departments differ in size: leaf shares drawn once, every leaf gets at least one item.
    leaf_weights = list(accumulate(rng.lognormvariate(0, 0.6) for _ in leaves))
    assignment = list(range(len(leaves))) + [
        bisect_right(leaf_weights, rng.random() * leaf_weights[-1])
        for _ in range(n_items - len(leaves))
    ]
    ranks = list(range(1, n_items + 1))
    rng.shuffle(ranks)
    items = [_make_item(rng, index, leaves[leaf]) for index, leaf in enumerate(assignment)]
    popularity = [1.0 / rank**ZIPF_EXPONENT for rank in ranks]
    catalog = _Catalog(items, all_cum_weights=list(accumulate(popularity)), leaf_of=assignment)
    for index, leaf in enumerate(assignment):
        catalog.leaf_items.setdefault(leaf, []).append(index)
    for leaf, members in catalog.leaf_items.items():
        catalog.leaf_cum_weights[leaf] = list(accumulate(popularity[i] for i in members))
    return catalog


def _make_item(rng: random.Random, index: int, leaf: vocab.Leaf) -> _DemoItem:
    department = leaf.path[0]
    brand = rng.choice(vocab.BRANDS[department])
    noun = rng.choice(leaf.nouns)
    adjective = rng.choice(vocab.ADJECTIVES[department])
    model = f"{rng.choice('ABCEHKMRSTVX')}{rng.randrange(1, 10) * 100 + rng.randrange(0, 100, 10)}"
    # Log-uniform price inside the leaf's band, ending in .99 like a shop would.
    low, high = leaf.price_low, leaf.price_high
    price = round(low * (high / low) ** rng.random()) - 0.01
    features = rng.sample(vocab.FEATURES[department], 2)
    attribute, choices = vocab.ATTRIBUTE_CHOICES[department]
    in_stock = rng.random() < 0.93
    record: Item = {
        "item_id": f"demo:i{index}",
        "title": f"{brand} {adjective} {noun} {model}",
        "description": f"{adjective} {noun.lower()} by {brand}. {' '.join(features)}",
        "category_path": list(leaf.path),
        "brand": brand,
        "price": max(price, 0.99),
        "in_stock": in_stock,
        "attributes": {attribute: rng.choice(choices)},
    }
    return _DemoItem(index, noun, rng.gauss(0.0, 1.0), in_stock, record)


# --------------------------------------------------------------------------- sessions in time order


def _simulate(
    rng: random.Random,
    catalog: _Catalog,
    n_users: int,
    n_events: int,
    start: int,
    end: int,
    drift_share: float,
) -> Iterator[_Row]:
    """The shop's rows in time order, streamed: a session's rows (and the ratings that follow
    a purchase days later) wait in a heap until the next session starts after them, so memory
    holds the plan and a few hours of rows, never the event list."""
    n_sessions = max(n_users, round(n_events / EVENTS_PER_SESSION))
    users = plan_users(rng, n_users, n_sessions, drift_share)
    sessions = plan_sessions(rng, users, start, end)
    recorder = _Recorder(end, np.zeros(n_users, np.int64))
    for user, number, begin in zip(
        sessions.user.tolist(), sessions.number.tolist(), sessions.start.tolist(), strict=True
    ):
        # Every later session starts at ``begin`` or after and its rows come after its start.
        while recorder.pending and recorder.pending[0].ts <= begin:
            yield heapq.heappop(recorder.pending)
        leaf = _choose_leaf(rng, catalog, list(users.leaves(user, number)))
        recorder.user = user
        _session(rng, catalog, leaf, begin, f"demo:s{user}-{number}", recorder)
    while recorder.pending:
        yield heapq.heappop(recorder.pending)


@dataclass
class _Recorder:
    """Holds rows until they are due, numbering each user's rows so event ids are unique and
    stable."""

    end: int
    seq: np.ndarray  # per user, rows numbered so far
    pending: list[_Row] = field(default_factory=list)  # a heap by (ts, user, seq)
    user: int = 0  # whose session is being recorded

    def emit(
        self,
        ts: int,
        item: int,
        kind: str,
        session: str | None,
        value: float | None = None,
        text: str | None = None,
    ) -> None:
        self.seq[self.user] += 1
        seq = int(self.seq[self.user])
        # A session that starts just before ``now`` is cut at ``now`` rather than leaking past it.
        row = _Row(min(ts, self.end - 1), self.user, seq, item, kind, value, text, session)
        heapq.heappush(self.pending, row)


def _choose_leaf(rng: random.Random, catalog: _Catalog, preferred: list[int]) -> int:
    if rng.random() < EXPLORE_PROBABILITY:
        # Exploration follows global popularity: users wander towards what others buy.
        return catalog.leaf_of[catalog.pick_any(rng)]
    return rng.choices(preferred, weights=(0.6, 0.25, 0.15))[0]


def _session(
    rng: random.Random,
    catalog: _Catalog,
    leaf: int,
    clock: int,
    session_id: str,
    recorder: _Recorder,
) -> None:
    """One visit: views in a leaf, some clicked, fewer carted, about half of carts bought."""
    views = min(1 + int(rng.expovariate(1 / 2.2)), 8)
    for _ in range(views):
        item = catalog.pick_in_leaf(rng, leaf)
        clock += rng.randint(15, 150)
        recorder.emit(clock, item, "view", session_id)
        if rng.random() >= CLICK_RATE:
            continue
        clock += rng.randint(5, 60)
        recorder.emit(clock, item, "click", session_id)
        if rng.random() < FAVORITE_RATE:
            recorder.emit(clock + rng.randint(5, 30), item, "favorite", session_id)
        # Out-of-stock items can be looked at but not put in the cart.
        if not catalog.items[item].in_stock or rng.random() >= CART_RATE:
            continue
        clock += rng.randint(20, 120)
        recorder.emit(clock, item, "cart", session_id)
        if rng.random() >= PURCHASE_RATE:
            continue
        clock += rng.randint(60, 600)
        recorder.emit(clock, item, "purchase", session_id)
        _after_purchase(rng, catalog.items[item], clock, recorder)


def _after_purchase(
    rng: random.Random, item: _DemoItem, bought_at: int, recorder: _Recorder
) -> None:
    """Ratings and reviews come 1-14 days after delivery, outside any browsing session."""
    if rng.random() < RATING_RATE:
        ts = bought_at + rng.randint(86_400, 14 * 86_400)
        if ts < recorder.end:
            recorder.emit(ts, item.index, "rating", None, value=_stars(rng, item.quality))
    if rng.random() < REVIEW_RATE:
        ts = bought_at + rng.randint(86_400, 14 * 86_400)
        stars = _stars(rng, item.quality)
        if ts < recorder.end:
            text = _review_text(rng, item.noun, stars)
            recorder.emit(ts, item.index, "review", None, value=stars, text=text)


def _stars(rng: random.Random, quality: float) -> float:
    """Mostly 4-5 stars, as in real shops, pulled down for poor-quality items."""
    score = 4.3 + 0.7 * quality + rng.gauss(0.0, 0.7)
    return float(min(5, max(1, round(score))))


def _review_text(rng: random.Random, noun: str, stars: float) -> str:
    sentiment = "positive" if stars >= 4 else "neutral" if stars == 3 else "negative"
    summaries, bodies = vocab.REVIEW_PHRASES[sentiment]
    body = rng.choice(bodies).format(noun=noun.lower())
    return f"{rng.choice(summaries)}\n{body}"
