"""Recommendation lists ranked in advance for active users, kept fresh by a change feed.

Ranking one user live costs a graph round trip for their state plus a pass over every item
vector. Like Gorse's cached lists, each API worker instead ranks the lists of its most
recently active users ahead of time, in a background thread, with exactly the code that
answers live (:func:`app.serving.recommend.user_scores`,
:func:`app.serving.recommend.ranked_positions`), and answers a plain request for such a user
from memory.

A list is only served while it is still what the live path would say about the user:

* Every 0.25 s (``rec_lists_poll_s``) the worker reads the change feed
  (:mod:`graphdb.serving_feed`): users stamped ``changed_at`` (every event and catalog write
  stamps it) and users erased since the last poll. Their lists are dropped, so they are
  ranked live, with their new events folded in.
* Lists are served only while the last successful poll began under a second ago (by the
  lists' clock, the monotonic clock unless a test steps one); with the graph unreachable,
  nothing is served from memory.
* Before a list is served, one indexed read of the user's ``changed_at`` checks that nothing
  changed since the build read the user (``rec_lists_read_your_writes``), so an event another
  worker accepted a moment ago is answered live at once, not at the next poll.
* Lists belong to one model version; a new active version is ranked live until its lists
  are built. When a refresh rewrites vectors (``revision``), the lists are rebuilt at most
  every ``rec_lists_rebuild_s``: until then, changes that reach a user only through the
  graph (their neighbours' behaviour) are not yet in their list. The user's own events are.
* Requests with filters, steering, diversity, ``exclude_seen=false`` or a ``k`` deeper than
  the list are answered live.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from app.serving.item_index import ItemIndex
from app.serving.recommend import (
    Ranking,
    ReasonContext,
    RecommendationRequest,
    explained_items,
    ranked_positions,
    recommendation_body,
    user_scores,
)
from graphdb.reads import Filters
from graphdb.serving_feed import ChangeFeed, erasure_key

log = logging.getLogger(__name__)

FRESH_WITHIN_S = 1.0  # the fold-in promise: an event shows in answers within a second
STATE_BATCH = 500  # users per state read while building
# After this long without a successful poll the lists are rebuilt, not trusted.
FEED_GAP_REBUILD_S = 3600.0
BUILD_RETRY_S = 60.0  # a failed build is not retried sooner


@dataclass(frozen=True)
class ListSettings:
    """Attributes mirror ``IG_REC_LISTS_*`` (see ``app.settings``)."""

    depth: int = 100
    max_users: int = 100_000
    rebuild_s: float = 600.0
    poll_s: float = 0.25
    # Re-read changes stamped this long before the last poll: a write whose transaction
    # began before it may commit after it.
    feed_overlap_s: float = 30.0
    # Before a list is served, read the user's changed_at: an event another worker accepted
    # a moment ago then shows at once rather than at the next poll.
    read_your_writes: bool = True
    # The deployment's secret the erasure tombstones are keyed with (``Settings.erasure_salt``).
    erasure_salt: bytes = b""

    @property
    def feed_overlap(self) -> timedelta:
        return timedelta(seconds=self.feed_overlap_s)


@dataclass
class ListGeneration:
    """Lists of one model version, ranked from the graph as it was when the build began.

    Attributes:
        version: The model version the lists were ranked with.
        revision: The version's revision when the build began.
        index: The item index the positions refer to.
        rows: User id -> row of ``picked``/``scores``; a stale user is removed.
        picked: ``int32[users, depth]`` positions, best first (``-1`` pads short lists).
        scores: ``float32[users, depth]``.
        contexts: Each row's reason context.
        built_at: The lists' clock when the build finished.
        as_of: The server's clock when the build began, less the feed overlap: a user
            stamped ``changed_at`` later has a stale row.
    """

    version: str
    revision: int
    index: ItemIndex
    rows: dict[str, int]
    picked: np.ndarray
    scores: np.ndarray
    contexts: list[ReasonContext]
    built_at: float
    as_of: datetime | None = None

    def forget(self, user_ids: set[str] | frozenset[str]) -> None:
        for user_id in user_ids:
            self.rows.pop(user_id, None)

    def drop_stale(self, feed: ChangeFeed, salt: bytes) -> None:
        """Forgets the users the feed reports changed or erased (tombstones keyed with ``salt``)."""
        self.forget(feed.changed)
        if feed.erased:
            self.forget({u for u in list(self.rows) if erasure_key(u, salt) in feed.erased})


def servable(request: RecommendationRequest, depth: int) -> bool:
    """Whether a list ranked with the defaults answers this request exactly."""
    f = request.filters
    return (
        f.exclude_seen and f.category is None and f.brand is None and request.diversity == 0
        and request.steer is None and request.k + len(f.exclude) <= depth
    )  # fmt: skip


class RecLists:
    """One API worker's precomputed lists, their change feed and their builder.

    Args:
        ranking: The process's ranking state (graph store, item index, short-term model,
            settings); the lists read the graph through its store.
        settings: Depth, user cap, rebuild interval and poll interval.
        report: Called with the number of servable users after every poll and build.
        clock: Monotonic seconds that the freshness window, the rebuild interval and the
            build retry are measured on (the real clock unless a test steps one).
    """

    def __init__(
        self,
        ranking: Ranking,
        settings: ListSettings,
        report: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.ranking, self.settings = ranking.store, ranking, settings
        self._report = report or (lambda users: None)
        self._clock = clock
        self._generation: ListGeneration | None = None
        self._active: tuple[str | None, int] = (None, 0)  # (version, revision) last polled
        self._polled_ok = -float("inf")  # monotonic start of the last successful poll
        self._since: datetime | None = None
        self._apply = threading.Lock()  # feed results and a new generation, one at a time
        self._building: threading.Thread | None = None
        self._retry_at = -float("inf")  # after a failed build, the next try waits
        self._feed_failing = False
        self._stop = threading.Event()
        self._feed: threading.Thread | None = None
        self._starting = threading.Lock()  # one feed thread however many callers start it

    # -- serving ----------------------------------------------------------------------------

    def answer(self, request: RecommendationRequest) -> dict[str, Any] | None:
        """The response body from a precomputed list, or ``None`` (rank it live)."""
        generation = self._generation
        if (
            generation is None
            or generation.version != self._active[0]
            or self._clock() - self._polled_ok > FRESH_WITHIN_S
            or not servable(request, self.settings.depth)
        ):
            return None
        row = generation.rows.get(request.user_id)
        if row is None or not self._unchanged_since_build(request.user_id, generation):
            return None
        picked, scores = generation.picked[row], generation.scores[row]
        keep = picked >= 0
        if request.filters.exclude:
            index = generation.index
            keep &= ~np.isin(picked, index.positions(list(request.filters.exclude)))
        picked, scores = picked[keep][: request.k], scores[keep][: request.k]
        if len(picked) == 0:
            return None  # nothing personal left: the live path answers with a fallback
        items = explained_items(generation.index, picked, scores, generation.contexts[row])
        return recommendation_body(request.user_id, generation.version, None, items)

    def _unchanged_since_build(self, user_id: str, generation: ListGeneration) -> bool:
        """Whether the user's graph is as the build read it (one indexed read), so a list is
        never older than the user's own last event, whichever worker accepted it."""
        if not self.settings.read_your_writes or generation.as_of is None:
            return True
        changed = self.store.feed.user_changed_at(user_id)
        return changed is None or changed <= generation.as_of

    def active_model(self) -> tuple[str, int] | None:
        """The active ``(version, revision)`` as the feed read it under a second ago, else
        ``None`` (no fresh poll, or no model yet)."""
        version, revision = self._active
        if version is None or self._clock() - self._polled_ok > FRESH_WITHIN_S:
            return None
        return version, revision

    def forget(self, user_ids: list[str]) -> None:
        """Drops these users' lists now (this worker accepted their events or erasure)."""
        generation = self._generation
        if generation is not None:
            generation.forget(set(user_ids))

    @property
    def users(self) -> int:
        """Users with a servable list."""
        generation = self._generation
        return len(generation.rows) if generation is not None else 0

    # -- the change feed --------------------------------------------------------------------

    def poll(self) -> ChangeFeed:
        """Reads the feed once and drops the lists it makes stale."""
        started = self._clock()
        since = self._since or datetime.now(UTC) - self.settings.feed_overlap
        feed = self.store.feed.read_change_feed(since)
        with self._apply:
            generation = self._generation
            if generation is not None:
                generation.drop_stale(feed, self.settings.erasure_salt)
                if started - self._polled_ok > FEED_GAP_REBUILD_S:
                    self._generation = None  # tombstones of a gap this long may be gone
            self._active = (feed.version, feed.revision)
            self._since = feed.now - self.settings.feed_overlap
            self._polled_ok = started
        self._report(self.users)
        return feed

    def due(self) -> bool:
        """Whether the lists should be (re)built for the active version."""
        version, revision = self._active
        generation = self._generation
        if version is None or (self._building is not None and self._building.is_alive()):
            return False
        if self._clock() < self._retry_at:
            return False
        if generation is None or generation.version != version:
            return True
        stale = revision != generation.revision
        return stale and self._clock() - generation.built_at >= self.settings.rebuild_s

    def run_forever(self) -> None:
        """The feed loop: poll, and start a build in its own thread when one is due."""
        while not self._stop.wait(self.settings.poll_s):
            try:
                self.poll()
                self._feed_failing = False
            except Exception:  # the graph is down: nothing is served from memory meanwhile
                if not self._feed_failing:
                    log.warning("change feed unreadable; answering live", exc_info=True)
                self._feed_failing = True
                continue
            if self.due() and not self._stop.is_set():
                self._building = threading.Thread(
                    target=self._build_quietly, name="rec-lists-build", daemon=True
                )
                self._building.start()

    def start(self) -> threading.Thread:
        """Starts the feed loop in a daemon thread, once: later calls return that thread."""
        if self._feed is not None:  # the per-request path: no lock once started
            return self._feed
        with self._starting:
            if self._feed is None:
                self._feed = threading.Thread(
                    target=self.run_forever, name="rec-lists-feed", daemon=True
                )
                self._feed.start()
            return self._feed

    @property
    def started(self) -> bool:
        """Whether the feed loop was started."""
        return self._feed is not None

    def stop(self, wait_s: float = 5.0) -> None:
        """Ends the feed loop and waits (up to ``wait_s`` each) for it and for a build under
        way: the caller closes the driver next, and a query still running on one of its
        connections would then collide with the close on the same socket."""
        self._stop.set()
        feed = self._feed
        if feed is not None and feed is not threading.current_thread():
            feed.join(wait_s)
        # Read only now: the feed loop starts the builds, up to the moment it ended.
        building = self._building
        if building is not None and building is not threading.current_thread():
            building.join(wait_s)

    # -- building ---------------------------------------------------------------------------

    def _build_quietly(self) -> None:
        try:
            self.build()
        except Exception:
            self._retry_at = self._clock() + BUILD_RETRY_S
            log.warning("ranking lists in advance failed; answering live", exc_info=True)

    def build(self) -> ListGeneration | None:
        """Ranks the active users' lists and installs them; ``None`` without a model."""
        feed = self.poll()
        if feed.version is None:
            return None
        started = time.perf_counter()
        generation = self._ranked(feed)
        if generation is None:
            return None
        # Changes that landed while ranking: read them before the lists go live.
        polled = self._clock()
        since = feed.now - self.settings.feed_overlap
        catch_up = self.store.feed.read_change_feed(since)
        with self._apply:
            generation.drop_stale(catch_up, self.settings.erasure_salt)
            self._active = (catch_up.version, catch_up.revision)
            self._polled_ok = max(self._polled_ok, polled)
            if catch_up.version != generation.version:
                return None
            generation.built_at = self._clock()
            self._generation = generation
        self._report(self.users)
        log.info("ranked %d lists of %s in advance in %.1fs", len(generation.rows),
                 generation.version, time.perf_counter() - started)  # fmt: skip
        return generation

    def _ranked(self, feed: ChangeFeed) -> ListGeneration | None:
        version = feed.version
        assert version is not None
        depth = self.settings.depth
        users = self.store.feed.active_users(self.settings.max_users)
        rows: dict[str, int] = {}
        picked = np.full((len(users), depth), -1, dtype=np.int32)
        scores = np.zeros((len(users), depth), dtype=np.float32)
        contexts: list[ReasonContext] = []
        # Stays the index of an empty generation when no user has a personal list, so the
        # feed loop does not start a build again at once.
        index = self.ranking.items.get(version, feed.revision)
        request = RecommendationRequest(user_id="", k=depth, filters=Filters())
        mixing, repeat = self.ranking.mixing(), self.ranking.repeat_rule()
        for start in range(0, len(users), STATE_BATCH):
            if self._stop.is_set():
                return None
            batch = users[start : start + STATE_BATCH]
            for state in self.store.feed.recommend_states(batch):
                if state.version != version:
                    return None  # a new version went live meanwhile: start over later
                assert state.user_id is not None  # the batch read names each row's user
                scored = user_scores(self.ranking, state)
                if scored is None:
                    continue  # no personal list: the live path gives the fallback
                index = scored[0]
                positions, ranked = ranked_positions(
                    index, request, state, scored[1], mixing, repeat
                )
                if len(positions) == 0:
                    continue  # nothing left to recommend: the live path gives the fallback
                row = rows[state.user_id] = len(contexts)
                picked[row, : len(positions)] = positions
                scores[row, : len(positions)] = ranked
                contexts.append(ReasonContext.of(index, state))
        n = len(contexts)
        # changed_at is a write's transaction start: one that began before the build's feed
        # read yet committed after the catch-up read would pass a check against feed.now.
        # Users stamped within the overlap are dropped by the catch-up anyway, so checking
        # against its start costs no list and still catches such a write on every read.
        return ListGeneration(version, feed.revision, index, rows, picked[:n].copy(),
                              scores[:n].copy(), contexts, built_at=self._clock(),
                              as_of=feed.now - self.settings.feed_overlap)  # fmt: skip
