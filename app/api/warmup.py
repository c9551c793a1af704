"""Load the active model (and the text encoder) into a fresh API worker before it is asked.

A worker otherwise reads the whole item matrix (and the short-term model) inside the first
request that needs it, so every deploy or restart starts with requests that take seconds.
``serve`` runs this in each gunicorn worker's own background thread: the worker answers
at once, and a request that arrives before the load is done waits on the same lock the load
holds instead of starting a second one.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from app.api.wiring import services_of

log = logging.getLogger(__name__)


def warm_up(app: Flask) -> str | None:
    """Load the active version's item index and short-term model; the version, if any."""
    serving = services_of(app)
    state = serving.store.changes.read_refresh_state()
    if state is None:
        return None
    ranking = serving.ranking
    index = ranking.items.get(state.version, state.revision)
    model = ranking.short_term.get(state.version) if ranking.short_term is not None else None
    if model is not None:
        model.tables_for(index)  # the blend's side-by-side table, built once per index
    return state.version


def warm_up_in_background(app: Flask) -> threading.Thread:
    def run() -> None:
        try:
            version = warm_up(app)
            log.info("warm-up done: %s", version or "no active model yet")
        except Exception:  # Neo4j down or a version switch mid-load: the first request retries
            log.warning("warm-up failed; the first request loads the model instead", exc_info=True)
        try:
            # The text encoder (search, q= steering, review sentiment at intake) reads about
            # 90 MB of weights: better here than inside the first search or review.
            from ml.query_encoder import packaged_encoder

            packaged_encoder()
        except Exception:
            log.warning("text encoder not preloaded; the first request loads it", exc_info=True)

        try:
            # Polls the change feed and ranks lists in advance now rather than on the first
            # request that uses them (which starts them where no server hook runs).
            lists = services_of(app).lists
            if lists is not None:
                lists.start()
        except Exception:
            log.warning("lists ranked in advance are off in this worker", exc_info=True)

    thread = threading.Thread(target=run, name="warm-up", daemon=True)
    thread.start()
    return thread
