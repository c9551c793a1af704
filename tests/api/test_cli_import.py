"""``interest-graph import`` end to end: files and a real dataset into the real server."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest
from neo4j import Driver

from app.cli import main
from app.ingest.sources.datasets import DATASET_SOURCES
from tests.conftest import Neo4jTestServer, free_port, require_shared_data


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
    err = capsys.readouterr().err
    assert "line 2: field 'type'" in err  # the file's line, not the record's index
    assert "nothing was stored" in err
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


def _write_events_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event_id", "user_id", "item_id", "type", "ts", "value"])
        writer.writerows(rows)


def _view(n: int) -> list[str]:
    return [f"p{n}", f"u{n % 3}", f"i{n % 4}", "view", "2024-01-01T00:00:00Z", ""]


@pytest.mark.parametrize("name", sorted(DATASET_SOURCES))
def test_missing_dataset_says_not_found_and_where_to_get_it(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IG_SHARED_DATA", str(tmp_path))
    assert main(["import", "dataset", name]) == 1
    err = capsys.readouterr().err
    assert "not found" in err
    assert str(tmp_path / name) in err  # the folder it looked in
    assert "https://" in err and "docs/datasets.md" in err  # where to get it
    assert "Traceback" not in err


def test_bad_rows_are_named_by_file_line_and_all_listed_up_to_a_cap(
    cli_env: Driver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.csv"
    rows = [_view(n) for n in range(40)]
    rows[1][3] = "teleport"  # file line 3
    rows[3][3:6] = ["rating", "2024-01-01T00:00:00Z", ""]  # line 5: a rating without stars
    for n in range(10, 35):  # lines 12-36: 25 more
        rows[n][3] = "stare"
    _write_events_csv(path, rows)
    assert main(["import", "events", str(path)]) == 1
    err = capsys.readouterr().err
    assert "27 problems" in err
    assert "line 3: field 'type'" in err
    assert "line 5: field 'value': a rating needs a value" in err
    assert "line 12: field 'type'" in err
    assert "and 7 more" in err  # 20 listed
    assert "line 36:" not in err
    assert "nothing was stored" in err
    assert _count(cli_env, "MATCH (x:Interaction) RETURN count(x)") == 0


@pytest.mark.parametrize(
    ("bad_cells", "expected"),
    [
        ({3: "teleport"}, "line 8: field 'type'"),  # a validation problem
        ({3: "rating", 5: "five"}, "line 8: column value: not a number"),  # unparseable cell
    ],
)
def test_partial_import_keeps_earlier_batches_says_so_and_a_rerun_is_safe(
    cli_env: Driver,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bad_cells: dict[int, str],
    expected: str,
) -> None:
    earlier = tmp_path / "earlier.csv"
    _write_events_csv(earlier, [_view(100), _view(101)])
    assert main(["import", "events", str(earlier)]) == 0
    path = tmp_path / "events.csv"
    rows = [_view(n) for n in range(9)]
    for column, cell in bad_cells.items():
        rows[6][column] = cell  # file line 8, in the third batch of three
    _write_events_csv(path, rows)
    capsys.readouterr()
    assert main(["import", "events", str(path), "--batch-size", "3"]) == 1
    err = capsys.readouterr().err
    assert expected in err
    assert "stored 6 events from lines 2-7 before the error (2 batches)" in err
    assert "Re-running the fixed input is safe" in err
    assert _count(cli_env, "MATCH (x:Interaction) RETURN count(x)") == 2 + 6  # nothing lost
    _write_events_csv(path, [_view(n) for n in range(9)])  # fixed
    assert main(["import", "events", str(path), "--batch-size", "3"]) == 0
    assert _count(cli_env, "MATCH (x:Interaction) RETURN count(x)") == 2 + 9
    assert _count(cli_env, "MATCH (x:Interaction {event_id: 'p0'}) RETURN count(x)") == 1


def test_bad_item_rows_are_named_by_file_line(
    cli_env: Driver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item_id,title,price\ni1,One,5\ni2,Two,-3\n\ni3,Three,\n")
    assert main(["import", "items", str(path)]) == 1
    err = capsys.readouterr().err
    assert "line 3: field 'price'" in err
    assert _count(cli_env, "MATCH (i:Item) RETURN count(i)") == 0


def test_unreachable_neo4j_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"bolt://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("IG_NEO4J_URI", uri)
    monkeypatch.setenv("IG_NEO4J_AUTH", "false")
    path = tmp_path / "events.csv"
    _write_events_csv(path, [_view(0)])
    assert main(["import", "events", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: cannot reach Neo4j at {uri}: ")
    assert "interest-graph neo4j start" in err and "IG_NEO4J_URI" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_import_demo_of_a_chosen_size(cli_env: Driver) -> None:
    args = ["import", "demo", "--users", "40", "--items", "50", "--events", "600", "--seed", "5"]
    assert main(args) == 0
    assert _count(cli_env, "MATCH (u:User) RETURN count(u)") == 40
    assert _count(cli_env, "MATCH (i:Item) RETURN count(i)") == 50
    events = _count(cli_env, "MATCH (x:Interaction) RETURN count(x)")
    assert 0.8 * 600 <= events <= 1.2 * 600
    assert main(args) == 0  # the same shop again: the same event ids, nothing added
    assert _count(cli_env, "MATCH (x:Interaction) RETURN count(x)") == events


def test_import_demo_rejects_a_size_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["import", "demo", "--users", "0"])
    assert "--users: must be at least 1" in capsys.readouterr().err
