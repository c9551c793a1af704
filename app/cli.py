"""The ``interest-graph`` command: server, schema, import, serve and the all-in-one demo
(backup and restore in app/cli_backup.py)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli_backup import add_backup_commands
from app.cli_demo import add_demo_commands
from app.cli_demo import say as _say
from app.settings import MAX_TRAIN_PROCESSES, Settings, load_settings, shared_data_dir

if TYPE_CHECKING:
    from graphdb.store import GraphStore

Handler = Callable[[argparse.Namespace, Settings], int]


def cmd_neo4j(args: argparse.Namespace, settings: Settings) -> int:
    from graphdb.local import server

    config = settings.server_config()
    if args.action == "start":
        _say(f"starting Neo4j {config.version} (state in {config.state_dir}) ...")
        state = server.start(config, timeout_s=args.timeout)
        _say(f"Neo4j is up: Bolt {state.bolt_uri}, Browser {state.browser_url}")
        if config.auth:
            _say(f"user 'neo4j', password in {config.password_file}")
    elif args.action == "stop":
        _say("stopped" if server.stop(config) else "not running")
    else:
        state = server.status(config)
        print(
            f"running={state.running} pid={state.pid} bolt={state.bolt_uri} "
            f"browser={state.browser_url}"
        )
        return 0 if state.running else 3
    return 0


@contextmanager
def _store(settings: Settings) -> Iterator[GraphStore]:
    """The command's one graph store, closed when the command is done."""
    from graphdb.store import GraphStore

    store = GraphStore.connect(settings.neo4j_target())
    try:
        yield store
    finally:
        store.close()


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    with _store(settings) as store:
        report = store.migrations.migrate(args.folder, dry_run=args.dry_run)
    listed = report.pending if report.dry_run else report.applied
    verb = "would apply" if report.dry_run else "applied"
    for migration in listed:
        print(f"{verb} {migration.path.name}")
    if not listed:
        print("schema is up to date")
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from app.ingest.loading import check_source, load_source, offline_load, open_source
    from app.ingest.sources.demo import DemoShape

    check_source(args.kind, args.source, args.path)  # a missing file says so before connecting
    shape = DemoShape(args.users, args.items, args.events, args.seed)
    if args.offline:
        stream = open_source(args.kind, args.source, args.path, shape)
        print(offline_load(settings, stream).summary())
        return 0
    with _store(settings) as store:
        summary = load_source(
            store, settings, args.kind, args.source, args.path, args.batch_size, shape
        )
    print(summary)
    return 0


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from app.training.pipeline import run_training, train_config_from

    config = train_config_from(
        settings, model=args.model, epochs=args.epochs, time_budget_s=args.time_budget
    )
    if args.processes is not None:
        settings = settings.model_copy(update={"train_processes": args.processes})
    with _store(settings) as store:
        report = run_training(store, settings, config, force=args.force, say=_say)
    print(report.summary())
    if report.curve:
        print(f"training curve: {report.curve}")
    return 0


def cmd_embed_text(args: argparse.Namespace, settings: Settings) -> int:
    from app.training.text_index import embed_item_texts

    with _store(settings) as store:
        written = embed_item_texts(store)
    print(f"text vectors written for {written} items")
    return 0


def cmd_tags(args: argparse.Namespace, settings: Settings) -> int:
    from app.worker.tagging import run_tagging

    with _store(settings) as store:
        report = run_tagging(store, settings.fold_config().half_life_ms, everything=args.all)
    print(report.summary())
    return 0


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from app.training.evaluation import evaluate_benchmark
    from app.training.pipeline import train_config_from

    config = train_config_from(
        settings, model=args.model, epochs=args.epochs, time_budget_s=args.time_budget
    )
    path = args.path or shared_data_dir() / args.benchmark
    report = evaluate_benchmark(args.benchmark, path, config, args.out)
    print(json.dumps({"benchmark": report["benchmark"], "test": report["test"]}, indent=2))
    print(f"report and training curve in {args.out}")
    return 0


def cmd_apikey(args: argparse.Namespace, settings: Settings) -> int:
    with _store(settings) as store:
        if args.action == "create":
            scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
            key = store.api_keys.create(args.name, scopes)
            print(key)
            _say("store this key now: only its hash is kept, it cannot be shown again")
        elif args.action == "revoke":
            if not args.key_id:
                raise ValueError("apikey revoke needs a KEY_ID (see `apikey list`)")
            if not store.api_keys.revoke(args.key_id):
                raise ValueError(f"no API key with id {args.key_id!r}")
            _say(f"revoked {args.key_id}")
        else:
            print("key_id\tstate\tscopes\tname")
            for info in store.api_keys.all():
                state = "revoked" if info.revoked else "active"
                print(f"{info.key_id}\t{state}\t{','.join(info.scopes)}\t{info.name}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from app.api.wsgi import serve

    return serve(settings, workers=args.workers)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from app.worker.scheduler import run_worker

    return run_worker(settings)


def _add_import(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from app.ingest.sources.datasets import DATASETS
    from graphdb.fold import EVENT_TYPES

    imp = sub.add_parser(
        "import", help="load events, items, a public dataset or demo data",
        description="Load events or items from a file (CSV with a header row or JSON Lines, "
        "gzip or not), a public dataset, or the demo shop.",
        epilog="event columns: event_id, user_id, item_id, type, ts, value, text, session_id "
        f"(user_id, item_id, type and ts required; type one of {', '.join(EVENT_TYPES)}). "
        "item columns: item_id, title, description, category_path "
        "('Root > Middle > Leaf'), brand, price, in_stock, attributes (a JSON object); item_id "
        f"required. datasets: {', '.join(sorted(DATASETS))}, read from ../shared/data/NAME or "
        "PATH (docs/datasets.md says where to get them and what each file holds).",
    )  # fmt: skip
    imp.add_argument("kind", choices=["events", "items", "dataset", "demo"], help="what to load")
    imp.add_argument(
        "source",
        nargs="?",
        help=f"FILE for events/items; NAME for dataset ({', '.join(sorted(DATASETS))})",
    )
    imp.add_argument("path", nargs="?", type=Path, help="dataset folder (dataset only)")
    imp.add_argument("--batch-size", type=int, default=5000,
                     help="events or items written per transaction (default 5000)")  # fmt: skip
    imp.add_argument(
        "--offline",
        action="store_true",
        help="initial bulk load of a dataset/demo into an EMPTY local graph with neo4j-admin "
        "import (the local server is stopped while it runs)",
    )
    _add_demo_shape(imp)
    imp.set_defaults(handler=cmd_import)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _train_processes(text: str) -> int:
    value = _positive(text)
    if value > MAX_TRAIN_PROCESSES:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_TRAIN_PROCESSES}, got {value}")
    return value


def _add_demo_shape(imp: argparse.ArgumentParser) -> None:
    """The demo shop's size: any size, the same shop for the same numbers and seed."""
    from app.ingest.sources.demo import DemoShape

    shape = DemoShape()
    for flag, default, what in (
        ("--users", shape.n_users, "users"), ("--items", shape.n_items, "items"),
        ("--events", shape.n_events, "events"),
    ):  # fmt: skip
        imp.add_argument(flag, type=_positive, default=default,
                         help=f"demo only: {what} in the shop (default {default:,})")  # fmt: skip
    imp.add_argument("--seed", type=int, default=shape.seed,
                     help=f"demo only: the shop's seed (default {shape.seed})")  # fmt: skip


# Plain text for --help (the module docstring is written for the code's readers).
DESCRIPTION = (
    "A live user-interest graph in Neo4j with GNN recommendations: run the local Neo4j, "
    "apply the schema, import events and catalogs, train, serve the API and run the worker. "
    "`interest-graph demo` does all of it on a demo shop. Settings come from IG_* variables "
    "(see the README)."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interest-graph", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    neo = sub.add_parser("neo4j", help="fetch, start, stop or inspect the local Neo4j server")
    neo.add_argument("action", choices=["start", "stop", "status"], help="what to do")
    neo.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for Bolt")
    neo.set_defaults(handler=cmd_neo4j)
    mig = sub.add_parser("migrate", help="apply pending schema migrations")
    mig.add_argument("--dry-run", action="store_true", help="list what would run")
    mig.add_argument("--folder", type=Path, default=None, help="migrations folder")
    mig.set_defaults(handler=cmd_migrate)
    _add_import(sub)
    add_backup_commands(sub)
    trn = sub.add_parser("train", help="learn embeddings from the graph and write them back")
    trn.add_argument("--model", choices=["interest", "inductive", "lightgcn"], default=None,
                     help="model kind (default: IG_MODEL_KIND, interest)")  # fmt: skip
    trn.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="most epochs (default: IG_TRAIN_EPOCHS; early stopping may end sooner)",
    )
    trn.add_argument("--time-budget", type=float, default=None, help="seconds of training")
    trn.add_argument(
        "--processes",
        type=_train_processes,
        default=None,
        help="processes that train together, each with the whole graph and a share of every "
        "batch (DistributedDataParallel; default: IG_TRAIN_PROCESSES, 1)",
    )
    trn.add_argument(
        "--force",
        action="store_true",
        help="promote even if the active model scores better on today's holdout",
    )
    trn.set_defaults(handler=cmd_train)
    txt = sub.add_parser(
        "embed-text", help="encode the text of new or edited items (for semantic search)"
    )
    txt.set_defaults(handler=cmd_embed_text)
    tag = sub.add_parser(
        "tags", help="tag new or changed items with key phrases and refresh users' tag interests"
    )
    tag.add_argument("--all", action="store_true", help="re-tag every item and every user")
    tag.set_defaults(handler=cmd_tags)
    ev = sub.add_parser("evaluate", help="train and score on a public benchmark split")
    ev.add_argument("benchmark", choices=["gowalla", "amazon-beauty"])
    ev.add_argument("--path", type=Path, default=None, help="dataset folder")
    ev.add_argument("--out", type=Path, default=Path("var/evaluation"),
                    help="where the scores and the training curve go")  # fmt: skip
    ev.add_argument("--model", choices=["interest", "inductive", "lightgcn"], default=None,
                    help="model kind (default: IG_MODEL_KIND, interest)")  # fmt: skip
    ev.add_argument("--epochs", type=int, default=None, help="most epochs")
    ev.add_argument("--time-budget", type=float, default=None, help="seconds of training")
    ev.set_defaults(handler=cmd_evaluate)
    key = sub.add_parser("apikey", help="create, revoke or list API keys")
    key.add_argument(
        "action",
        choices=["create", "revoke", "list"],
        help="create a key (printed once), revoke one by id, or list them",
    )
    key.add_argument("key_id", nargs="?", help="the key id to revoke")
    key.add_argument("--name", default="unnamed", help="who or what the key is for")
    key.add_argument("--scopes", default="read", help="comma list of read, write, admin")
    key.set_defaults(handler=cmd_apikey)
    srv = sub.add_parser("serve", help="run the API under gunicorn")
    srv.add_argument("--workers", type=int, default=None,
                     help="gunicorn worker processes (default: IG_WORKERS)")  # fmt: skip
    srv.set_defaults(handler=cmd_serve)
    wrk = sub.add_parser(
        "worker", help="run scheduled refreshes, retrains and requested runs (one process)"
    )
    wrk.set_defaults(handler=cmd_worker)
    add_demo_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ValueError as exc:
        _say(f"invalid settings: {exc}")
        return 2
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        message = _error_message(exc, settings)
        if message is None:
            raise
        _say(message)
        return 1


def _error_message(exc: Exception, settings: Settings) -> str | None:
    """What a person reads for an expected failure; None for a bug (the traceback helps then)."""
    from app.ingest.import_failure import ImportFailed
    from graphdb.driver import is_unavailable
    from graphdb.local.server import ServerError
    from graphdb.migrations import MigrationError

    cause = exc.cause if isinstance(exc, ImportFailed) else exc
    if cause is not None and is_unavailable(cause):
        reason = " ".join(str(cause).split()) or type(cause).__name__  # the driver's is multi-line
        unreachable = (
            f"error: cannot reach Neo4j at {settings.neo4j_uri}: {reason}; start it with "
            "`interest-graph neo4j start` or set IG_NEO4J_URI to a running server"
        )
        return unreachable + (f"\n{exc}" if isinstance(exc, ImportFailed) else "")
    if isinstance(exc, ServerError | MigrationError | ValueError | FileNotFoundError):
        return f"error: {exc}"
    return None


if __name__ == "__main__":
    raise SystemExit(main())
