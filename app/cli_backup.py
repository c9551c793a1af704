"""``interest-graph backup FILE`` and ``interest-graph restore FILE``: offline copies of the
local server's graph (a ``neo4j-admin`` dump), kept out of app/cli.py to keep it small.

Only the locally provisioned server (``interest-graph neo4j start``) is reached: its store
files are what neo4j-admin reads and replaces. A graph elsewhere (Docker, Aura, a cluster)
is backed up with that deployment's own tools (docs/operations.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit

from app.settings import Settings
from graphdb.local.server import ServerConfig

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _local_server(settings: Settings) -> ServerConfig:
    """The local server's config, refused where IG_NEO4J_URI points at another server:
    a dump of the local state folder would not be the graph the service uses."""
    config = settings.server_config()
    uri = urlsplit(settings.neo4j_uri)
    if uri.hostname not in LOCAL_HOSTS or (uri.port or 7687) != config.bolt_port:
        raise ValueError(
            f"IG_NEO4J_URI is {settings.neo4j_uri}, not the local server on port "
            f"{config.bolt_port}: backup and restore reach only the server that "
            "`interest-graph neo4j start` runs (see docs/operations.md for others)"
        )
    return config


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from graphdb.local.backup import backup_to_file

    config = _local_server(settings)
    seconds = backup_to_file(config, args.file, settings.neo4j_database)
    size_mb = args.file.stat().st_size / 1e6
    print(f"backed up database {settings.neo4j_database!r} to {args.file} "
          f"({size_mb:.1f} MB in {seconds:.1f}s)")  # fmt: skip
    _say(
        f"not in the dump: the model registry ({settings.model_dir}) and the erasure salt "
        f"({settings.state_dir / 'erasure-salt'} unless IG_ERASURE_SALT is set); copy them too"
    )
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from graphdb.local.backup import restore_from_file

    config = _local_server(settings)
    seconds = restore_from_file(config, args.file, settings.neo4j_database)
    print(f"restored database {settings.neo4j_database!r} from {args.file} in {seconds:.1f}s")
    _say(
        "start it with `interest-graph neo4j start`, then run `interest-graph migrate` "
        "(a dump from an older release may lack later migrations)"
    )
    return 0


def add_backup_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = sub.add_parser(
        "backup", help="write the local graph to a dump file (Neo4j stopped)",
        description="Write the local Neo4j's graph (events, items, users, vectors, model "
        "versions and the active-version pointer, API keys, refresh runs, schema) to one "
        "neo4j-admin dump file. Stop the server first (`interest-graph neo4j stop`).",
        epilog="Not in the dump: the model registry folder (IG_MODEL_DIR), the erasure salt "
        "and the server's password (state folder). See docs/operations.md.",
    )  # fmt: skip
    backup.add_argument("file", type=Path, help="the dump file to write (replaced if present)")
    backup.set_defaults(handler=cmd_backup)
    restore = sub.add_parser(
        "restore", help="replace the local graph with a dump file (Neo4j stopped)",
        description="Replace the local Neo4j's graph with a dump written by `interest-graph "
        "backup`; everything written since that dump is lost, erasures included. Stop the "
        "server first (`interest-graph neo4j stop`); a fresh state folder works too.",
    )  # fmt: skip
    restore.add_argument("file", type=Path, help="the dump file to load")
    restore.set_defaults(handler=cmd_restore)
