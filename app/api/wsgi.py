"""Run the API under gunicorn, a production WSGI server (never Flask's debug server)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from app.settings import Settings


def serve(settings: Settings, workers: int | None = None) -> int:
    """Replace this process with gunicorn serving ``app.api:create_app()``."""
    gunicorn = shutil.which("gunicorn") or os.path.join(os.path.dirname(sys.executable), "gunicorn")
    if not os.path.exists(gunicorn):
        print("gunicorn is not installed in this environment", file=sys.stderr)
        return 1
    argv = [
        gunicorn,
        "--workers", str(workers or settings.workers),
        "--threads", str(settings.threads),
        "--bind", f"{settings.host}:{settings.port}",
        "--access-logfile", "-",
        "--graceful-timeout", "20",
        "--config", "python:app.api.gunicorn_hooks",
        "app.api:create_app()",
    ]  # fmt: skip
    # Many request threads share two cores: one BLAS thread each avoids oversubscription.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # Workers write their metrics to files that /metrics aggregates across processes.
    metrics_dir = tempfile.mkdtemp(prefix="ig-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    print(f"serving on http://{settings.host}:{settings.port}", file=sys.stderr, flush=True)
    os.execv(gunicorn, argv)
    return 0  # not reached: execv replaces the process
