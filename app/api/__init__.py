"""The HTTP process: an app factory wiring the graph store into one blueprint per resource."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from app.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the WSGI app. Neo4j may be down at start: requests then answer 503 until it is back."""
    from app.api import docs, events, graph, health, items, refresh, users
    from app.api.auth import init_auth
    from app.api.errors import register_error_handlers
    from app.api.metrics import init_metrics
    from app.api.wiring import init_graph

    settings = settings or load_settings()
    # The Browser style sheet (app/static) stays downloadable at /static/, as before the split.
    app = Flask(__name__, static_folder=str(Path(__file__).resolve().parents[1] / "static"))
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    init_graph(app, settings)
    register_error_handlers(app)
    init_auth(app, settings.api_auth)
    init_metrics(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(items.bp)
    app.register_blueprint(users.bp)
    app.register_blueprint(graph.bp)
    app.register_blueprint(refresh.bp)
    app.register_blueprint(docs.bp)
    return app
