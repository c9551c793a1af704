"""The API's checks through the driver's routing scheme, ``neo4j://`` (issue 23, item 4).

Aura and Enterprise clusters are reached through ``neo4j://`` (or ``neo4j+s://``): the driver reads
the server's routing table, sends reads to readers and writes to the leader. A single Community
server answers the routing table too (it is every role at once), so the API test modules below
run again, in a subprocess, with the session's server reached that way. What this does not show:
a read served by a lagging secondary - that needs a cluster, which this machine cannot run.
"""

from __future__ import annotations

import os
import subprocess
import sys

import neo4j
import pytest
from neo4j import Driver

from tests.conftest import REPO_ROOT, ROUTING_SWITCH, Neo4jTestServer

# Intake, catalog, ranking, profiles, search, keys and erasure, bookmarks, and gunicorn workers.
MODULES = [
    "tests/api/test_routing_scheme.py::test_the_server_is_reached_as_configured",
    "tests/api/test_events_api.py",
    "tests/api/test_items_api.py",
    "tests/api/test_recommendations_api.py",
    "tests/api/test_profile_api.py",
    "tests/api/test_search_api.py",
    "tests/api/test_auth_and_erasure.py",
    "tests/api/test_bookmarks.py",
    "tests/api/test_read_your_writes.py",
]


def test_the_server_is_reached_as_configured(driver: Driver, neo4j_server: Neo4jTestServer) -> None:
    routed = os.environ.get(ROUTING_SWITCH) == "1" and neo4j_server.kind == "local"
    assert neo4j_server.target.uri.startswith("neo4j://" if routed else ("bolt://", "neo4j"))
    if routed:
        assert isinstance(driver, neo4j.Neo4jDriver)  # the routing driver, not a direct one
        table = driver.execute_query(
            "CALL dbms.routing.getRoutingTable({}) YIELD servers RETURN servers"
        )
        roles = {server["role"] for server in table.records[0]["servers"]}
        assert roles == {"WRITE", "READ", "ROUTE"}


@pytest.mark.skipif(os.environ.get(ROUTING_SWITCH) == "1", reason="already the routed run")
def test_the_api_checks_pass_through_the_routing_scheme(neo4j_server: Neo4jTestServer) -> None:
    if neo4j_server.kind != "local":
        pytest.skip(
            f"the routed run uses the project's local server; this session has {neo4j_server.kind}"
        )
    env = {key: value for key, value in os.environ.items() if key != "NEO4J_URI"}
    env[ROUTING_SWITCH] = "1"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *MODULES],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
