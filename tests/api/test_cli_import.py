"""``interest-graph import`` end to end: files and a real dataset into the real server."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest
from neo4j import Driver

from app.cli import main
from tests.conftest import Neo4jTestServer, require_shared_data


@pytest.fixture()
def cli_env(
    graph: Driver, neo4j_server: Neo4jTestServer, monkeypatch: pytest.MonkeyPatch
) -> Driver:
    target = neo4j_server.target
    monkeypatch.setenv("IG_NEO4J_URI", target.uri)
    monkeypatch.setenv("IG_NEO4J_AUTH", "true" if target.password else "false")
    if target.password:
        monkeypatch.setenv("IG_NEO4J_PASSWORD", target.password)
    return graph


def _count(driver: Driver, query: str) -> int:
    return int(driver.execute_query(query).records[0][0])


def test_import_csv_events_twice_changes_nothing(cli_env: Driver, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event_id", "user_id", "item_id", "type", "ts", "value"])
        writer.writerow(["c1", "u1", "i1", "view", "2024-01-01T00:00:00Z", ""])
        writer.writerow(["c2", "u1", "i1", "rating", "2024-01-02T00:00:00Z", "5"])
        writer.writerow(["c3", "u2", "i2", "purchase", "1704067200", ""])
    assert main(["import", "events", str(path)]) == 0
    weights = cli_env.execute_query("MATCH ()-[r:INTERACTED]->() RETURN sum(r.weight) AS w").records
    assert _count(cli_env, "MATCH (x:Interaction) RETURN count(x)") == 3
    assert main(["import", "events", str(path)]) == 0
    assert _count(cli_env, "MATCH (x:Interaction) RETURN count(x)") == 3
    again = cli_env.execute_query("MATCH ()-[r:INTERACTED]->() RETURN sum(r.weight) AS w").records
    assert again[0]["w"] == weights[0]["w"]


def test_import_gzipped_jsonl_items(cli_env: Driver, tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        for k in range(3):
            item = {"item_id": f"i{k}", "title": f"Item {k}", "category_path": ["A", f"B{k}"]}
            handle.write(json.dumps(item) + "\n")
    assert main(["import", "items", str(path)]) == 0
    assert (
        _count(
            cli_env,
            "MATCH (:Item)-[:IN_CATEGORY]->(:Category)-[:SUBCATEGORY_OF]->(:Category {name:'A'}) RETURN count(*)",
        )
        == 3
    )


def test_import_with_a_bad_record_reports_it_and_stops(
    cli_env: Driver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.jsonl"
    lines = [{"event_id": "ok", "user_id": "u1", "item_id": "i1", "type": "view", "ts": 1704067200},
             {"event_id": "bad", "user_id": "u1", "item_id": "i1", "type": "teleport", "ts": 1704067200}]  # fmt: skip
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert main(["import", "events", str(path)]) == 1
    assert "event 1: field 'type'" in capsys.readouterr().err
    assert _count(cli_env, "MATCH (x:Interaction) RETURN count(x)") == 0


def test_import_gift_cards_dataset(cli_env: Driver) -> None:
    folder = require_shared_data("amazon-gift-cards")
    assert main(["import", "dataset", "amazon-gift-cards", str(folder)]) == 0
    assert _count(cli_env, "MATCH (x:Interaction {type: 'review'}) RETURN count(x)") == 2972
    assert _count(cli_env, "MATCH (u:User) RETURN count(u)") == 458
    assert _count(cli_env, "MATCH (i:Item {in_catalog: true}) RETURN count(i)") == 148
    # A review's display name never reaches the graph.
    assert (
        _count(
            cli_env,
            "MATCH (n) WHERE n.reviewerName IS NOT NULL OR n.name =~ '(?i).*reviewer.*' RETURN count(n)",
        )
        == 0
    )
    negative = cli_env.execute_query(
        "MATCH (x:Interaction {type: 'review'}) WHERE x.value = 1.0 RETURN min(x.weight) AS w"
    ).records[0]["w"]
    assert negative < 0
