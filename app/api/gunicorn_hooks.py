"""Gunicorn server hooks, loaded by ``interest-graph serve`` with ``--config python:...``."""

from __future__ import annotations

from typing import Any


def post_worker_init(worker: Any) -> None:
    """Each worker loads the active model in the background as soon as it has its app."""
    from app.api.warmup import warm_up_in_background

    warm_up_in_background(worker.wsgi)


def child_exit(server: Any, worker: Any) -> None:
    """A gone worker's per-process gauges leave /metrics with it."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
