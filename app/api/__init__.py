"""The HTTP process: an app factory wiring the graph store into one blueprint per resource."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from app.settings import Settings, load_settings


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    autostart_lists: bool = True,
    wall_clock: Callable[[], float] = time.time,
) -> Flask:
    """Build the WSGI app. Neo4j may be down at start: requests then answer 503 until it is back.

    Args:
        settings: The service's settings (read from the environment when omitted).
        clock: Monotonic seconds the in-process caches age by (a test may step its own).
        autostart_lists: Whether the first request that uses the lists ranked in advance
            starts their change feed (as under any WSGI server); off, a test drives it.
        wall_clock: Epoch seconds that event intake's time window and the OpenAPI document's
            bound on an event's time both follow (a test may pin it to make them one).
    """
    from app.api import docs, events, graph, guide, health, items, refresh, users
    from app.api.access_log import init_route_tagging
    from app.api.auth import init_auth
    from app.api.common import init_body_limit
    from app.api.consistency import init_bookmarks
    from app.api.converters import IdConverter
    from app.api.errors import register_error_handlers
    from app.api.metrics import init_metrics
    from app.api.wiring import build_services, init_services

    settings = settings or load_settings()
    # The Browser style sheet (app/static) stays downloadable at /static/, as before the split.
    app = Flask(__name__, static_folder=str(Path(__file__).resolve().parents[1] / "static"))
    app.config["SETTINGS"] = settings
    app.config["WALL_CLOCK"] = wall_clock
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # Never redirect to another resource: '/users/a%2F/interests' arrives (decoded) as
    # '/users/a//interests', which merged slashes would redirect to user 'a'. Unmerged it is a
    # 404; no rule ends in '/', so strict slashes answer 404 too, never a redirect.
    app.url_map.merge_slashes = False
    app.url_map.converters["id"] = IdConverter
    register_error_handlers(app)
    init_route_tagging(app)  # first: the access log then names every request by its route
    init_body_limit(app)  # before the key check: nothing may read a chunked body before it
    init_auth(app, settings.api_auth, clock)
    metrics = init_metrics(app)
    # After the metrics: the lists report how many users they hold to its gauge.
    services = build_services(
        settings,
        clock=clock,
        autostart_lists=autostart_lists,
        report_lists=metrics.rec_lists_users.set,
    )
    init_services(app, services)
    init_bookmarks(app)  # after the key check: an unknown caller makes the server wait for nothing
    app.register_blueprint(health.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(items.bp)
    app.register_blueprint(users.bp)
    app.register_blueprint(graph.bp)
    app.register_blueprint(refresh.bp)
    app.register_blueprint(docs.bp)
    app.register_blueprint(guide.bp)
    return app
