"""docker-compose.yml: the services, their order of start, health checks and secrets.

The structural checks read ``docker compose config`` (Compose's own parser and interpolation),
so they need the Docker client with its compose plugin; no Docker engine is contacted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
NEO4J_IMAGE = "neo4j:5.26-community"
SENTINEL = "sentinel-Pa55-from-env"
# A key naming a secret; its value must come from the environment: ${VAR:-default}.
SECRET_LINE = re.compile(r"^\s*-?\s*([A-Za-z0-9_]*(?:PASSWORD|AUTH)[A-Za-z0-9_]*)\s*[:=]\s*(\S.*)$")


def _compose_command() -> list[str] | None:
    """`docker compose` (v2 plugin) where it answers, else the standalone `docker-compose`."""
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def compose_config(**env: str) -> dict[str, Any]:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    # A clean environment, so a developer's own NEO4J_PASSWORD cannot mask a missing default.
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "IG_"))}
    done = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config"],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env={**base, **env},
    )  # fmt: skip
    assert done.returncode == 0, f"{' '.join(command)} config failed:\n{done.stderr}"
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def test_secrets_come_from_the_environment_text() -> None:
    """Runs without Docker: every PASSWORD/AUTH value in the file is a ${...} substitution."""
    offenders = []
    for number, line in enumerate(COMPOSE_FILE.read_text().splitlines(), start=1):
        match = SECRET_LINE.match(line)
        if match and "${" not in match.group(2):
            offenders.append(f"line {number}: {line.strip()}")
    assert not offenders, "hard-coded secrets in docker-compose.yml:\n" + "\n".join(offenders)
    assert f"image: {NEO4J_IMAGE}" in COMPOSE_FILE.read_text()


def test_services_image_and_commands() -> None:
    services = compose_config()["services"]
    assert set(services) == {"neo4j", "api", "migrate", "worker", "prometheus", "grafana"}
    assert services["neo4j"]["image"] == NEO4J_IMAGE
    assert not any("profiles" in service for service in services.values())  # all start
    assert services["api"]["command"][:2] == ["interest-graph", "serve"]
    assert services["migrate"]["command"][:2] == ["interest-graph", "migrate"]
    assert services["worker"]["command"][:2] == ["interest-graph", "worker"]
    published = {p["target"] for s in services.values() for p in s.get("ports", [])}
    assert {7474, 7687, 8000, 9090, 3000} <= published


def test_healthchecks_and_start_order() -> None:
    services = compose_config()["services"]
    neo4j_check = " ".join(services["neo4j"]["healthcheck"]["test"])
    assert "cypher-shell" in neo4j_check or "wget" in neo4j_check
    assert "/health/ready" in " ".join(services["api"]["healthcheck"]["test"])
    api_deps = services["api"]["depends_on"]
    assert api_deps["neo4j"]["condition"] == "service_healthy"
    assert api_deps["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["neo4j"]["condition"] == "service_healthy"


def test_api_targets_the_compose_neo4j_and_binds_all_interfaces() -> None:
    env = compose_config()["services"]["api"]["environment"]
    assert env["IG_NEO4J_URI"] == "bolt://neo4j:7687"
    assert env["IG_HOST"] == "0.0.0.0"


def test_password_is_taken_from_the_environment() -> None:
    services = compose_config(NEO4J_PASSWORD=SENTINEL)["services"]
    assert services["neo4j"]["environment"]["NEO4J_AUTH"] == f"neo4j/{SENTINEL}"
    for name in ("api", "migrate", "worker"):
        assert services[name]["environment"]["IG_NEO4J_PASSWORD"] == SENTINEL, name
    # Without the variable a placeholder applies: the file itself holds no real secret.
    default = compose_config()["services"]["neo4j"]["environment"]["NEO4J_AUTH"]
    assert default != f"neo4j/{SENTINEL}" and default.startswith("neo4j/")


def mounts(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A service's volumes by target: source, target, read_only (either syntax)."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):  # docker-compose v1 prints the short syntax
            source, target, *mode = volume.split(":")
            volume = {"source": source, "target": target, "read_only": mode == ["ro"]}
        found[volume["target"]] = volume
    return found


def test_the_api_reads_the_registry_the_worker_writes() -> None:
    """The API serves the short-term model from the registry: the worker's volume, read-only."""
    services = {name: mounts(service) for name, service in compose_config()["services"].items()}
    writer = services["worker"]["/app/var/models"]
    reader = services["api"]["/app/var/models"]
    assert reader["source"] == writer["source"] == "models"
    assert reader.get("read_only") is True and not writer.get("read_only")


def _mounted_file(service: dict[str, Any], target: str) -> Path:
    """The repository file or folder bind-mounted, read-only, at ``target``."""
    mount = mounts(service)[target]
    source = Path(mount["source"])
    assert mount.get("read_only") is True, target
    assert source.exists() and source.resolve().is_relative_to(REPO_ROOT), source
    return source


def test_prometheus_scrapes_the_api() -> None:
    service = compose_config()["services"]["prometheus"]
    config_file = _mounted_file(service, "/etc/prometheus/prometheus.yml")
    assert "--config.file=/etc/prometheus/prometheus.yml" in service["command"]
    jobs = yaml.safe_load(config_file.read_text())["scrape_configs"]
    targets = {t for job in jobs for group in job["static_configs"] for t in group["targets"]}
    assert "api:8000" in targets  # the api service's port inside the compose network
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in jobs)


def test_grafana_is_provisioned_with_the_datasource_and_dashboard() -> None:
    """The datasource points at the prometheus service under the uid the panels name; the
    dashboard provider reads the folder the dashboards are mounted at."""
    service = compose_config(GRAFANA_PASSWORD=SENTINEL)["services"]["grafana"]
    assert service["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == SENTINEL
    provisioning = _mounted_file(service, "/etc/grafana/provisioning")
    dashboards = _mounted_file(service, "/var/lib/grafana/dashboards")
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "interest-graph.yml").read_text())[
        "providers"
    ]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads((dashboards / "interest-graph.json").read_text())
    uids = {p["datasource"]["uid"] for p in dashboard["panels"]}
    uids |= {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {source["uid"]}
