"""Run the API under gunicorn, a production WSGI server (never Flask's debug server)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from app.settings import Settings


def gunicorn_command(
    settings: Settings, workers: int | None = None, pid_file: str | None = None
) -> list[str] | None:
    """gunicorn's command line for ``app.api:create_app()`` (None: gunicorn is not installed),
    with this process's environment made ready for it (BLAS threads, metrics folder)."""
    gunicorn = shutil.which("gunicorn") or os.path.join(os.path.dirname(sys.executable), "gunicorn")
    if not os.path.exists(gunicorn):
        print("gunicorn is not installed in this environment", file=sys.stderr)
        return None
    argv = [
        gunicorn,
        "--workers", str(workers or settings.workers),
        "--threads", str(settings.threads),
        "--bind", f"{settings.host}:{settings.port}",
        "--access-logfile", "-",
        "--graceful-timeout", "20",
        "--config", "python:app.api.gunicorn_hooks",
    ]  # fmt: skip
    if pid_file is not None:
        argv += ["--pid", pid_file]  # gunicorn writes it at start and removes it at exit
    # Many request threads share two cores: one BLAS thread each avoids oversubscription.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # Workers write their metrics to files that /metrics aggregates across processes.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ig-metrics-")
    return [*argv, "app.api:create_app()"]


def serve(settings: Settings, workers: int | None = None) -> int:
    """Replace this process with gunicorn serving ``app.api:create_app()``."""
    argv = gunicorn_command(settings, workers)
    if argv is None:
        return 1
    print(f"serving on http://{settings.host}:{settings.port}", file=sys.stderr, flush=True)
    os.execv(argv[0], argv)
    return 0  # not reached: execv replaces the process
