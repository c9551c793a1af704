"""Shared fixtures: one real Neo4j server per test session, data cleaned between tests.

Where the server comes from, in order: ``NEO4J_URI`` (with ``NEO4J_USER``/``NEO4J_PASSWORD``)
from the environment; a testcontainers ``neo4j:5.26-community`` where a Docker engine answers;
else the project's own provisioned server (``graphdb.local.server``) on free local ports, reached
through ``neo4j://`` (the routing driver) instead of ``bolt://`` when ``IG_TEST_NEO4J_ROUTING=1``.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from neo4j import Driver

from app.api import create_app
from app.api.wiring import services_of
from app.settings import Settings, load_settings, shared_data_dir
from graphdb.driver import Neo4jTarget, connect
from graphdb.local.server import ServerConfig, start, stop
from graphdb.migrations import migrate
from graphdb.store import GraphStore

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTCONTAINERS_IMAGE = "neo4j:5.26-community"
# Set to 1, the local server is reached through the driver's routing scheme (tests/api/test_routing_scheme.py).
ROUTING_SWITCH = "IG_TEST_NEO4J_ROUTING"
CLEAN_DATA = "MATCH (n) WHERE NOT n:SchemaMigration DETACH DELETE n"


@dataclass(frozen=True)
class Neo4jTestServer:
    target: Neo4jTarget
    http_url: str | None
    kind: str

    def settings(self, **overrides: Any) -> Settings:
        """Settings that reach this server (keys off unless ``overrides`` turn them on)."""
        target = self.target
        return load_settings(
            neo4j_uri=target.uri, neo4j_user=target.user, neo4j_password=target.password,
            neo4j_auth=target.password is not None, neo4j_database=target.database,
            **{"api_auth": False, **overrides},
        )  # fmt: skip


def require_shared_data(*parts: str) -> Path:
    """A path under the shared data folder; skips the test where it is absent."""
    path = shared_data_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs the real dataset at {path} (present in CI beside the checkout)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        return bool(client.ping())
    except Exception:
        return False


def _from_testcontainers(stack: pytest.FixtureRequest) -> Neo4jTestServer:
    from testcontainers.community.neo4j import Neo4jContainer

    container = Neo4jContainer(TESTCONTAINERS_IMAGE).with_exposed_ports(7474)
    container.start()
    stack.addfinalizer(container.stop)
    host = container.get_container_host_ip()
    return Neo4jTestServer(
        target=Neo4jTarget(container.get_connection_url(), container.username, container.password),
        http_url=f"http://{host}:{container.get_exposed_port(7474)}",
        kind="testcontainers",
    )


def _from_local_server(request: pytest.FixtureRequest, tmp: Path) -> Neo4jTestServer:
    config = ServerConfig(
        cache_dir=Path(os.environ.get("IG_CACHE_DIR", Path.home() / ".cache" / "interest-graph")),
        state_dir=tmp,
        bolt_port=free_port(),
        http_port=free_port(),
        heap="1g",
        pagecache="256m",
        auth=False,
    )
    start(config)
    request.addfinalizer(lambda: stop(config))
    uri = config.bolt_uri
    if os.environ.get(ROUTING_SWITCH) == "1":  # the routing driver, as against Aura or a cluster
        uri = uri.replace("bolt://", "neo4j://", 1)
    return Neo4jTestServer(
        target=Neo4jTarget(uri),
        http_url=f"http://{config.listen_address}:{config.http_port}",
        kind="local",
    )


@pytest.fixture(scope="session")
def neo4j_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Neo4jTestServer:
    uri = os.environ.get("NEO4J_URI")
    if uri:
        target = Neo4jTarget(
            uri, os.environ.get("NEO4J_USER", "neo4j"), os.environ.get("NEO4J_PASSWORD")
        )
        return Neo4jTestServer(target, os.environ.get("NEO4J_HTTP_URL"), "environment")
    if _docker_answers():
        return _from_testcontainers(request)
    return _from_local_server(request, tmp_path_factory.mktemp("neo4j"))


@pytest.fixture(scope="session")
def driver(neo4j_server: Neo4jTestServer) -> Iterator[Driver]:
    drv = connect(neo4j_server.target)
    drv.execute_query(CLEAN_DATA)
    migrate(drv)
    yield drv
    drv.close()


@pytest.fixture()
def graph(driver: Driver) -> Driver:
    """The session driver over an empty graph (schema and migration records kept)."""
    driver.execute_query(CLEAN_DATA)
    return driver


@pytest.fixture()
def store(graph: Driver, neo4j_server: Neo4jTestServer) -> GraphStore:
    """A graph store over the session driver and the cleaned graph (never closed here: the
    session's driver outlives the test)."""
    return GraphStore(graph, neo4j_server.target.database)


@pytest.fixture()
def app(graph: Driver, neo4j_server: Neo4jTestServer) -> Iterator[Flask]:
    """The Flask app wired to the test server's (already cleaned) graph."""
    target = neo4j_server.target
    settings = load_settings(
        neo4j_uri=target.uri,
        neo4j_user=target.user,
        neo4j_password=target.password,
        neo4j_auth=target.password is not None,
        neo4j_database=target.database,
        api_auth=False,  # tests/api/test_auth.py covers keys and scopes
    )
    application = create_app(settings)
    application.config["TESTING"] = True
    yield application
    services_of(application).close()  # stops the lists' feed, if a request started it


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture()
def live_api(app: Flask) -> Iterator[str]:
    """The app behind a real threaded HTTP server (werkzeug's), for tests that need real
    sockets and threads: concurrent requests, and paths decoded the way WSGI servers do."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
