"""Schema migrations against the real server: order, idempotence, refusal of edits, dry run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from neo4j import Driver

from graphdb.migrations import (
    MigrationError,
    default_migrations_dir,
    load_migrations,
    migrate,
    split_statements,
)


def _constraint_names(driver: Driver) -> set[str]:
    records = driver.execute_query("SHOW CONSTRAINTS YIELD name RETURN name").records
    return {r["name"] for r in records}


def _index_names(driver: Driver) -> set[str]:
    records = driver.execute_query("SHOW INDEXES YIELD name RETURN name").records
    return {r["name"] for r in records}


def test_project_migrations_create_constraints_and_vector_indexes(graph: Driver) -> None:
    assert {
        "user_id_unique",
        "item_id_unique",
        "category_id_unique",
        "brand_id_unique",
        "interaction_event_id_unique",
    } <= _constraint_names(graph)
    assert {
        "user_changed_at",
        "item_changed_at",
        "user_embedding_a",
        "item_embedding_a",
        "user_embedding_b",
        "item_embedding_b",
        "user_embedding_version_a",
        "item_embedding_version_b",
    } <= _index_names(graph)
    assert not {"user_embedding", "item_embedding"} & _index_names(graph)  # 0013 dropped them
    recorded = graph.execute_query(
        "MATCH (m:SchemaMigration) RETURN m.version AS v, m.checksum AS c ORDER BY v"
    ).records
    files = load_migrations(default_migrations_dir())
    assert [(r["v"], r["c"]) for r in recorded][: len(files)] == [
        (m.version, m.checksum) for m in files
    ]


def test_rerun_is_a_no_op(graph: Driver) -> None:
    report = migrate(graph)
    assert report.applied == () and report.pending == ()


def _scratch_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), folder)
    return folder


def test_new_file_is_applied_and_dry_run_lists_it_first(graph: Driver, tmp_path: Path) -> None:
    folder = _scratch_folder(tmp_path)
    (folder / "0999_test_probe.cypher").write_text(
        "CREATE INDEX test_probe_index IF NOT EXISTS FOR (p:TestProbe) ON (p.key);\n"
    )
    try:
        dry = migrate(graph, folder, dry_run=True)
        assert [m.name for m in dry.pending] == ["test_probe"]
        assert "test_probe_index" not in _index_names(graph)
        applied = migrate(graph, folder)
        assert [m.version for m in applied.applied] == [999]
        assert "test_probe_index" in _index_names(graph)
        assert migrate(graph, folder).applied == ()
    finally:
        graph.execute_query("DROP INDEX test_probe_index IF EXISTS")
        graph.execute_query("MATCH (m:SchemaMigration {version: 999}) DELETE m")


def test_changed_applied_file_is_refused(graph: Driver, tmp_path: Path) -> None:
    folder = _scratch_folder(tmp_path)
    first = sorted(folder.glob("0001_*.cypher"))[0]
    first.write_text(first.read_text() + "\n// an innocent-looking edit\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(graph, folder)


def test_bad_file_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_oops.cypher").write_text("RETURN 1;")
    with pytest.raises(MigrationError, match="NNNN_description"):
        load_migrations(tmp_path)


def test_statement_splitting_keeps_multiline_statements() -> None:
    text = "// comment\nCREATE INDEX a IF NOT EXISTS\nFOR (n:A) ON (n.x);\nRETURN 'a;b';\n"
    assert split_statements(text) == (
        "CREATE INDEX a IF NOT EXISTS\nFOR (n:A) ON (n.x)",
        "RETURN 'a;b'",
    )


def test_missing_folder_is_an_error_not_an_empty_schema(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="not found"):
        load_migrations(tmp_path / "nowhere")
