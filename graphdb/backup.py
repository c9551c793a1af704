"""Offline dump and load of the local server's database (``neo4j-admin database dump|load``).

Both need the server stopped; the caller stops and restarts it. Used for backups and by the
replay benchmark to put the graph back to the same state before every mode it compares.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from graphdb.server import (
    ADMIN_CLASS,
    ServerConfig,
    ServerError,
    ensure_distribution,
    prepare_state,
)


def _admin(config: ServerConfig, *args: str) -> float:
    ensure_distribution(config)
    prepare_state(config)
    env = {**os.environ, "NEO4J_HOME": str(config.state_dir), "NEO4J_CONF": str(config.conf_dir)}
    cmd = ["java", "-Xmx1g", "-cp", f"{config.lib_dir}/*", ADMIN_CLASS, *args]
    started = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-3000:]
        raise ServerError(f"neo4j-admin {' '.join(args[:2])} failed:\n{output}")
    return time.perf_counter() - started


def dump_database(config: ServerConfig, folder: Path, database: str = "neo4j") -> float:
    """Writes ``<folder>/<database>.dump`` (server stopped); returns seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    return _admin(
        config, "database", "dump", database, f"--to-path={folder}", "--overwrite-destination=true"
    )


def load_database(config: ServerConfig, folder: Path, database: str = "neo4j") -> float:
    """Replaces ``database`` with ``<folder>/<database>.dump`` (server stopped)."""
    if not (folder / f"{database}.dump").exists():
        raise ServerError(f"no dump of {database!r} in {folder}")
    return _admin(
        config, "database", "load", database, f"--from-path={folder}",
        "--overwrite-destination=true",
    )  # fmt: skip
