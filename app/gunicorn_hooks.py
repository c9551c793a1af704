"""Gunicorn server hooks, loaded by ``interest-graph serve`` with ``--config python:...``."""

from __future__ import annotations

from typing import Any


def post_worker_init(worker: Any) -> None:
    """Each worker loads the active model in the background as soon as it has its app."""
    from app.warmup import warm_up_in_background

    warm_up_in_background(worker.wsgi)
