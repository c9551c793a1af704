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
import random
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from typing import NamedTuple

from app.ingest.sources import demo_catalog as vocab
from app.ingest.sources.stream import DatasetStream, Event, Item, rfc3339

ZIPF_EXPONENT = 1.1  # item popularity ~ 1 / rank^s
EXPLORE_PROBABILITY = 0.15  # share of sessions outside the user's preferences
EVENTS_PER_SESSION = 4.0  # measured mean of the funnel below; sizes the session budget
CLICK_RATE, CART_RATE, PURCHASE_RATE = 0.32, 0.28, 0.55  # each step given the previous one
FAVORITE_RATE = 0.06  # of clicked items
RATING_RATE, REVIEW_RATE = 0.22, 0.10  # of purchases, some days later
# Evening-heavy shopping hours (weights for 00h..23h).
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 1, 2, 3, 4, 4, 4, 5, 6, 5, 4, 4, 5, 6, 8, 9, 10, 9, 6, 3)


@dataclass(frozen=True)
class _DemoItem:
    index: int
    noun: str
    quality: float  # latent: drives ratings
    in_stock: bool
    record: Item


class _Row(NamedTuple):
    """A compact event kept until the whole stream is sorted by time."""

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
        rows.sort()
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


# --------------------------------------------------------------------------- users and sessions


@dataclass
class _User:
    index: int
    sessions: int
    before: list[int]  # preferred leaves until the drift point (first = main preference)
    after: list[int]  # preferred leaves after it (same list when the user does not drift)
    drift_at: float  # fraction of the user's sessions after which ``after`` applies


def _make_users(
    rng: random.Random, n_users: int, n_sessions: int, drift_share: float
) -> list[_User]:
    activity = [rng.paretovariate(1.5) for _ in range(n_users)]
    scale = n_sessions / sum(activity)
    by_department: dict[str, list[int]] = {}
    for leaf_index, leaf in enumerate(vocab.LEAVES):
        by_department.setdefault(leaf.path[0], []).append(leaf_index)
    departments = sorted(by_department)
    users = []
    for index, weight in enumerate(activity):
        main, other = rng.sample(departments, 2)
        before = rng.sample(by_department[main], 2) + [rng.choice(by_department[other])]
        after = before
        if rng.random() < drift_share:
            # The new main interest comes from a department the user did not care about before.
            new = rng.choice([d for d in departments if d not in (main, other)])
            after = rng.sample(by_department[new], 2) + [before[2]]
        sessions = max(1, round(weight * scale))
        users.append(_User(index, sessions, before, after, rng.uniform(0.35, 0.65)))
    return users


def _simulate(
    rng: random.Random,
    catalog: _Catalog,
    n_users: int,
    n_events: int,
    start: int,
    end: int,
    drift_share: float,
) -> list[_Row]:
    n_sessions = max(n_users, round(n_events / EVENTS_PER_SESSION))
    rows: list[_Row] = []
    for user in _make_users(rng, n_users, n_sessions, drift_share):
        recorder = _Recorder(user.index, end, rows)
        starts = sorted(_session_start(rng, start, end) for _ in range(user.sessions))
        for number, session_start in enumerate(starts):
            leaves = user.before if number < user.drift_at * user.sessions else user.after
            leaf = _choose_leaf(rng, catalog, leaves)
            session_id = f"demo:s{user.index}-{number}"
            _session(rng, catalog, leaf, session_start, session_id, recorder)
    return rows


@dataclass
class _Recorder:
    """Appends one user's rows, numbering them so event ids are unique and stable."""

    user: int
    end: int
    rows: list[_Row]
    seq: int = 0

    def emit(
        self,
        ts: int,
        item: int,
        kind: str,
        session: str | None,
        value: float | None = None,
        text: str | None = None,
    ) -> None:
        self.seq += 1
        # A session that starts just before ``now`` is cut at ``now`` rather than leaking past it.
        row = _Row(min(ts, self.end - 1), self.user, self.seq, item, kind, value, text, session)
        self.rows.append(row)


def _session_start(rng: random.Random, start: int, end: int) -> int:
    day = start + rng.randrange(max((end - start) // 86_400, 1)) * 86_400
    hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
    return min(day + hour * 3600 + rng.randrange(3600), end - 3600)


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
