"""The API process's state: one graph store, the ranking caches and the lists ranked in
advance, built by the app factory, held under one typed extension and closed with the app.

Blueprints reach it through :func:`services`. Besides it, ``app.extensions`` holds only the
app's metrics (:data:`app.api.metrics.METRICS_KEY`), likewise one typed value under one key.
"""

from __future__ import annotations

import atexit
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app

from app.serving.fallback import PopularCache
from app.serving.intent import IntentMix
from app.serving.item_index import ItemIndexCache
from app.serving.rec_lists import ListSettings, RecLists
from app.serving.recommend import Ranking
from app.serving.repeat import RepeatRule
from app.serving.short_term import ShortTermModels
from app.settings import Settings
from graphdb.store import GraphStore

EXTENSION_KEY = "interest_graph.services"

Clock = Callable[[], float]


@dataclass(frozen=True)
class ApiServices:
    """Everything an API worker serves with besides the request.

    Attributes:
        store: The process's graph store (its one driver).
        ranking: Ranking settings and caches: item vectors, short-term model, popular lists.
        lists: The lists ranked in advance (``None`` when ``IG_REC_LISTS`` is off).
        erasure_salt: The deployment's secret erasure tombstones are keyed with.
        autostart_lists: Whether the first request that uses the lists starts their change
            feed. Under any WSGI server the lists then serve without a server hook; tests
            that drive the feed by hand turn it off.
    """

    store: GraphStore
    ranking: Ranking
    lists: RecLists | None
    erasure_salt: bytes
    autostart_lists: bool = True

    def serving_lists(self) -> RecLists | None:
        """The lists, their change feed started on first use (unless ``autostart_lists``)."""
        lists = self.lists
        if lists is not None and self.autostart_lists:
            lists.start()  # once per process; later calls only look
        return lists

    def close(self) -> None:
        """Stops the lists' feed and closes the store's driver."""
        if self.lists is not None:
            self.lists.stop()
        self.store.close()


def build_services(
    settings: Settings,
    *,
    clock: Clock = time.monotonic,
    autostart_lists: bool = True,
    report_lists: Callable[[int], None] | None = None,
) -> ApiServices:
    """Connects the store (Neo4j may be down: requests then answer 503 until it is back)."""
    store = GraphStore.connect(
        settings.neo4j_target(), verify=False, retry_time_s=settings.neo4j_retry_s
    )
    ranking = Ranking(
        store=store,
        half_life_ms=settings.fold_config().half_life_ms,
        popular=PopularCache(clock=clock),
        items=ItemIndexCache(store),
        short_term=ShortTermModels(settings.model_dir),
        foldin_weight=settings.foldin_weight,
        short_term_weight=settings.short_term_weight,
        intent=IntentMix.from_settings(settings),
        repeat=RepeatRule(
            enabled=settings.rec_repeat_rule,
            min_rate=settings.rec_repeat_min_rate,
            window_days=settings.rec_repeat_window_days,
        ),
    )
    lists = None
    salt = settings.tombstone_salt()
    if settings.rec_lists:
        list_settings = ListSettings(
            depth=settings.rec_lists_depth,
            max_users=settings.rec_lists_max_users,
            rebuild_s=settings.rec_lists_rebuild_s,
            poll_s=settings.rec_lists_poll_s,
            feed_overlap_s=settings.rec_lists_feed_overlap_s,
            read_your_writes=settings.rec_lists_read_your_writes,
            erasure_salt=salt,
        )
        lists = RecLists(ranking, list_settings, report=report_lists, clock=clock)
    return ApiServices(store, ranking, lists, salt, autostart_lists)


def init_services(app: Flask, services: ApiServices) -> None:
    """Hands ``services`` to ``app``; they are closed at exit if not before."""
    app.extensions[EXTENSION_KEY] = services
    atexit.register(services.close)


def services_of(app: Flask) -> ApiServices:
    """The services of ``app`` (outside a request or app context)."""
    value: ApiServices = app.extensions[EXTENSION_KEY]
    return value


def services() -> ApiServices:
    """The services of the app handling the current request."""
    return services_of(current_app)


def graph_store() -> GraphStore:
    """The process's graph store."""
    return services().store
