"""``interest-graph demo`` and ``interest-graph stop``, kept out of app/cli.py to keep it small.

The demo is the one command that spans every process: it starts the local Neo4j, applies the
migrations, loads the demo shop, trains, encodes item texts, tags items, makes a first key and
serves the API. Each step says what it is doing as it starts and what it did when it ends, so
a person never watches a silent terminal. The API runs as a child process (its pid in
``<IG_STATE_DIR>/api.pid``), so that when it ends — Ctrl-C, or ``interest-graph stop`` from
another terminal — the demo also stops the Neo4j it started.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from app.settings import Settings

if TYPE_CHECKING:
    from graphdb.local.server import ServerConfig
    from graphdb.store import GraphStore

API_STOP_TIMEOUT_S = 30.0
KEY_HINT = "interest-graph apikey create --name demo --scopes admin"


def say(message: str) -> None:
    """A progress or status line for the person at the terminal (stderr, at once)."""
    print(message, file=sys.stderr, flush=True)


def api_pid_file(settings: Settings) -> Path:
    return settings.server_config().state_dir / "api.pid"


def _start_neo4j(config: ServerConfig) -> bool:
    """Start the local server unless it runs; True when this call started it."""
    from graphdb.local import server

    if server.status(config).running:
        say(f"Neo4j is already running (Bolt {config.bolt_uri}): using it")
        server.start(config)  # waits until Bolt answers
        return False
    tick = time.perf_counter()
    say(
        f"starting Neo4j {config.version} (state in {config.state_dir}; the first start "
        "fetches it with Maven, a minute or more) ..."
    )
    server.start(config)
    say(f"Neo4j is up after {time.perf_counter() - tick:.0f} s: Bolt {config.bolt_uri}")
    return True


def _migrate(store: GraphStore) -> None:
    report = store.migrations.migrate()
    names = ", ".join(m.path.name for m in report.applied)
    say(f"schema migrations applied: {names}" if names else "schema migrations: up to date")


def _load_demo_shop(store: GraphStore, settings: Settings) -> None:
    from app.ingest.loading import load_stream
    from app.ingest.sources.demo import demo_stream

    if store.events.count_interactions() > 0:
        say("graph already holds events: demo data not loaded again")
        return
    say("loading the demo shop (items, then events, with progress bars) ...")
    say(load_stream(store, settings, demo_stream(), 5000))


def _train_once(store: GraphStore, settings: Settings) -> None:
    """Train when no model is active yet, so the demo serves personal recommendations."""
    from app.training.pipeline import run_training, train_config_from

    if store.embeddings.active_version() is not None:
        say("a model is already active: not training again")
        return
    config = train_config_from(settings)
    say(f"training the interest model (at most {config.epochs} epochs) ...")
    report = run_training(store, settings, config, say=say)
    say(report.summary())


def _embed_texts(store: GraphStore) -> None:
    """Text vectors for the demo catalog, so semantic search answers from the start."""
    from app.training.text_index import embed_item_texts

    written = embed_item_texts(store)
    # Training the interest model encodes every item's text first: nothing is left then.
    say(
        f"text vectors written for {written} items"
        if written
        else "text vectors: every item already has a current one (encoded before training)"
    )


def _tag_items(store: GraphStore, settings: Settings) -> None:
    """Key-phrase tags for the demo catalog, so interest profiles list tags from the start."""
    from app.worker.tagging import run_tagging

    say("tagging items with key phrases ...")
    report = run_tagging(store, settings.fold_config().half_life_ms)
    say(report.summary())


def demo_key_message(store: GraphStore, settings: Settings) -> str | None:
    """The first run makes an admin key, shown once; later runs say how to make another."""
    if not settings.api_auth:
        return None
    base = f"http://{settings.host}:{settings.port}"
    if store.api_keys.all():
        return (
            "API keys exist already; a key is shown only when it is made, so make another "
            f'with:\n  {KEY_HINT}\n(then KEY=igk_...; see README.md, "Try it")'
        )
    key = store.api_keys.create("demo", ["admin"])
    return (
        f'API key (admin, shown once): {key}\n  KEY={key}\n  curl -H "Authorization: Bearer '
        f'$KEY" {base}/api/v1/graph/stats'
    )


def prepare_demo(settings: Settings) -> bool:
    """Every step before serving, each once; True when it started Neo4j itself."""
    from graphdb.store import GraphStore

    config = settings.server_config()
    started = _start_neo4j(config)
    store = GraphStore.connect(settings.neo4j_target())
    try:
        _migrate(store)
        _load_demo_shop(store, settings)
        _train_once(store, settings)
        _embed_texts(store)
        _tag_items(store, settings)
        message = demo_key_message(store, settings)
        if message:
            say(message)
    finally:
        store.close()
    say(f"Neo4j Browser: {config.browser_url}  (user neo4j, password in {config.password_file})")
    return started


def _serve_until_stopped(settings: Settings) -> int:
    """Run the API as a child process until it ends (Ctrl-C reaches both) or is stopped."""
    from app.api.wsgi import gunicorn_command

    pid_file = api_pid_file(settings)
    argv = gunicorn_command(settings, pid_file=str(pid_file))
    if argv is None:
        return 1
    say(
        f"serving on http://{settings.host}:{settings.port} (docs: /docs); Ctrl-C or "
        "`interest-graph stop` stops the API and the Neo4j the demo started"
    )
    api = subprocess.Popen(argv)
    try:
        return api.wait()
    except KeyboardInterrupt:  # gunicorn got the same SIGINT: let it finish its shutdown
        try:
            api.wait(timeout=API_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            api.kill()
        return 130
    finally:
        pid_file.unlink(missing_ok=True)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    started = prepare_demo(settings)
    if args.no_serve:
        if started:
            say("Neo4j is still running; `interest-graph stop` stops it")
        return 0
    # The demo shop sells durable goods: nobody wants a second coffee maker right after the
    # first, so the repeat-purchase rule is on (the API workers read it from the environment).
    os.environ.setdefault("IG_REC_REPEAT_RULE", "true")
    try:
        code = _serve_until_stopped(settings)
    finally:
        _after_serving(settings, started)
    return code


def _after_serving(settings: Settings, started: bool) -> None:
    from graphdb.local import server

    config = settings.server_config()
    if not started:
        if server.status(config).running:
            say("the API stopped; Neo4j was running before the demo and still is "
                 "(`interest-graph stop` or `interest-graph neo4j stop` stops it)")  # fmt: skip
        return
    say("the API stopped; stopping the Neo4j the demo started ...")
    say("Neo4j stopped" if server.stop(config) else "Neo4j had already stopped")


def _stop_api(pid_file: Path) -> bool:
    """SIGTERM the demo's gunicorn (by its pid file) and wait for it; False when none ran."""
    from graphdb.local.server import wait_or_kill

    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        pid_file.unlink(missing_ok=True)
        return False
    wait_or_kill(pid, API_STOP_TIMEOUT_S)
    pid_file.unlink(missing_ok=True)
    return True


def cmd_stop(args: argparse.Namespace, settings: Settings) -> int:
    """Stop what ``demo`` started: its API, then the local Neo4j."""
    from graphdb.local import server

    say("stopped the API" if _stop_api(api_pid_file(settings)) else "the API was not running")
    say("stopped Neo4j" if server.stop(settings.server_config()) else "Neo4j was not running")
    return 0


def add_demo_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="start Neo4j, migrate, load demo data, train, serve")
    demo.add_argument("--no-serve", action="store_true", help="stop after loading and training")
    demo.set_defaults(handler=cmd_demo)
    stop = sub.add_parser("stop", help="stop the API and the local Neo4j that `demo` started")
    stop.set_defaults(handler=cmd_stop)
