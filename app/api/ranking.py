"""The per-process ranking state the read endpoints share: item vectors, caches, settings."""

from __future__ import annotations

from flask import current_app

from app.api.common import settings
from app.api.wiring import database, graph_driver
from app.serving.item_index import ItemIndexCache
from app.serving.rec_lists import ListSettings, RecLists
from app.serving.recommend import PopularCache, Ranking
from app.serving.short_term import ShortTermModels


def _popular_cache() -> PopularCache:
    cache: PopularCache = current_app.extensions.setdefault("popular_cache", PopularCache())
    return cache


def _item_index() -> ItemIndexCache:
    cache: ItemIndexCache = current_app.extensions.setdefault("item_index", ItemIndexCache())
    return cache


def ranking() -> Ranking:
    """The per-process caches and the ranking settings (built once per app)."""
    ranking: Ranking | None = current_app.extensions.get("ranking")
    if ranking is None:
        config = settings()
        ranking = current_app.extensions.setdefault(
            "ranking",
            Ranking(
                half_life_ms=config.fold_config().half_life_ms,
                popular=_popular_cache(),
                items=_item_index(),
                short_term=ShortTermModels(config.model_dir),
                foldin_weight=config.foldin_weight,
                short_term_weight=config.short_term_weight,
                database=database(),
            ),
        )
    return ranking


def rec_lists() -> RecLists | None:
    """The process's precomputed lists (``None`` when ``IG_REC_LISTS`` is off)."""
    lists: RecLists | None = current_app.extensions.get("rec_lists")
    config = settings()
    if lists is None and config.rec_lists:
        lists = current_app.extensions.setdefault(
            "rec_lists",
            RecLists(
                graph_driver(),
                ranking(),
                ListSettings(
                    depth=config.rec_lists_depth,
                    max_users=config.rec_lists_max_users,
                    rebuild_s=config.rec_lists_rebuild_s,
                    poll_s=config.rec_lists_poll_s,
                    feed_overlap_s=config.rec_lists_feed_overlap_s,
                ),
                report=current_app.extensions["metrics_rec_lists"].set,
            ),
        )
    return lists
