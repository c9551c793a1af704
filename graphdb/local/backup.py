"""Offline dump and load of the local server's database (``neo4j-admin database dump|load``).

Both need the server stopped. Used by ``interest-graph backup|restore`` (one dump file each)
and by the replay benchmark to put the graph back to the same state before every mode it
compares.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from graphdb.local.distribution import ensure_distribution
from graphdb.local.server import (
    ServerConfig,
    ServerError,
    ensure_password,
    prepare_state,
    run_admin_tool,
    status,
)


def dump_database(config: ServerConfig, folder: Path, database: str = "neo4j") -> float:
    """Writes ``<folder>/<database>.dump`` (server stopped); returns seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    return run_admin_tool(
        config, "database", "dump", database, f"--to-path={folder}", "--overwrite-destination=true"
    )


def load_database(config: ServerConfig, folder: Path, database: str = "neo4j") -> float:
    """Replaces ``database`` with ``<folder>/<database>.dump`` (server stopped)."""
    if not (folder / f"{database}.dump").exists():
        raise ServerError(f"no dump of {database!r} in {folder}")
    return run_admin_tool(
        config, "database", "load", database, f"--from-path={folder}",
        "--overwrite-destination=true",
    )  # fmt: skip


def require_stopped(config: ServerConfig, action: str) -> None:
    """Dump and load read and replace the store files, which a running server holds open."""
    state = status(config)
    if state.running:
        raise ServerError(
            f"the local Neo4j is running (pid {state.pid}, state in {config.state_dir}): "
            f"{action} needs it stopped; run `interest-graph neo4j stop` first"
        )


def backup_to_file(config: ServerConfig, file: Path, database: str = "neo4j") -> float:
    """Dumps ``database`` of the stopped local server into ``file``; returns seconds.

    neo4j-admin names its output after the database, so the dump goes to a scratch folder
    beside ``file`` and is renamed into place: an existing ``file`` is only replaced by a
    complete dump.
    """
    require_stopped(config, "backup")
    if not (config.data_dir / "databases" / database).is_dir():
        raise ServerError(f"no database {database!r} to back up under {config.data_dir}")
    file = file.resolve()
    file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".backup-", dir=file.parent) as folder:
        seconds = dump_database(config, Path(folder), database)
        os.replace(Path(folder) / f"{database}.dump", file)
    return seconds


def restore_from_file(config: ServerConfig, file: Path, database: str = "neo4j") -> float:
    """Replaces ``database`` of the stopped local server with the dump in ``file``.

    Works on an existing state folder and on a fresh one (a new machine): there the password
    is generated before the load, as before a first start, since the start refuses a
    database without a password file.
    """
    if not file.is_file():
        raise FileNotFoundError(f"backup file {file} not found")
    require_stopped(config, "restore")
    ensure_distribution(config)
    prepare_state(config)
    ensure_password(config)
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=config.state_dir) as folder:
        staged = Path(folder) / f"{database}.dump"
        try:
            os.link(file.resolve(), staged)  # no copy where both are on one file system
        except OSError:
            shutil.copyfile(file, staged)
        return load_database(config, Path(folder), database)
