"""Offline dump and load of the local server's database (``neo4j-admin database dump|load``).

Both need the server stopped; the caller stops and restarts it. Used for backups and by the
replay benchmark to put the graph back to the same state before every mode it compares.
"""

from __future__ import annotations

from pathlib import Path

from graphdb.local.server import ServerConfig, ServerError, run_admin_tool


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
