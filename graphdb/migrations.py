"""Ordered, checksummed schema migrations kept as ``migrations/NNNN_description.cypher``.

Each applied file is recorded as ``(:SchemaMigration {version, name, checksum, applied_at})``.
Re-running applies nothing new; a recorded file whose text has changed is refused, because
the graph was built by the old text and silently diverging schemas are worse than a stop.
Schema statements cannot share a transaction with data writes in Neo4j, so each statement
runs on its own; statements must therefore be idempotent (``IF NOT EXISTS``), which makes a
half-applied file safe to run again.

A statement that starts with ``:auto`` (as in Neo4j Browser and cypher-shell) runs in an
auto-commit transaction instead of a managed one: that is what ``CALL { ... } IN
TRANSACTIONS`` needs, so a migration can move data in batches (0013 moves the served
embeddings into slot ``a``). Such a statement must be safe to run again as well.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from neo4j import Driver, ManagedTransaction

from graphdb.area import StoreArea
from graphdb.driver import causal_session

AUTO_COMMIT_PREFIX = ":auto"
FILE_PATTERN = re.compile(r"^(\d{4})_([a-z0-9_]+)\.cypher$")

CREATE_MIGRATION_CONSTRAINT = (
    "CREATE CONSTRAINT schema_migration_version IF NOT EXISTS "
    "FOR (m:SchemaMigration) REQUIRE m.version IS UNIQUE"
)
READ_APPLIED = """
MATCH (m:SchemaMigration)
RETURN m.version AS version, m.name AS name, m.checksum AS checksum
ORDER BY m.version
"""
RECORD_APPLIED = """
MERGE (m:SchemaMigration {version: $version})
SET m.name = $name, m.checksum = $checksum, m.applied_at = datetime(),
    m.duration_ms = $duration_ms
"""


class MigrationError(RuntimeError):
    """A migration file is malformed, changed after it was applied, or failed to run."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    checksum: str
    statements: tuple[str, ...]


@dataclass(frozen=True)
class MigrationReport:
    applied: tuple[Migration, ...]
    pending: tuple[Migration, ...]
    dry_run: bool


def default_migrations_dir() -> Path:
    """``IG_MIGRATIONS_DIR``, else the ``migrations/`` folder of the source tree."""
    override = os.environ.get("IG_MIGRATIONS_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[1] / "migrations"


def split_statements(text: str) -> tuple[str, ...]:
    """Split a file into statements at semicolons that end a line; ``//`` lines are comments."""
    kept = [line for line in text.splitlines() if not line.strip().startswith("//")]
    parts = re.split(r";[ \t]*(?:\n|$)", "\n".join(kept))
    return tuple(part.strip() for part in parts if part.strip())


def load_migrations(folder: Path) -> list[Migration]:
    """Read and order every migration file; refuse duplicates and stray names."""
    if not folder.is_dir():
        # Silently applying nothing would report an empty schema as "up to date".
        raise MigrationError(
            f"migrations folder {folder} not found; pass --folder or set IG_MIGRATIONS_DIR"
        )
    migrations: list[Migration] = []
    for path in sorted(folder.glob("*.cypher")):
        match = FILE_PATTERN.match(path.name)
        if match is None:
            raise MigrationError(
                f"{path.name}: migration files must be named NNNN_description.cypher"
            )
        raw = path.read_bytes()
        statements = split_statements(raw.decode("utf-8"))
        if not statements:
            raise MigrationError(f"{path.name}: no statements")
        migrations.append(
            Migration(
                version=int(match.group(1)),
                name=match.group(2),
                path=path,
                checksum=hashlib.sha256(raw).hexdigest(),
                statements=statements,
            )
        )
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration numbers in {folder}")
    return migrations


def _read_applied_tx(tx: ManagedTransaction) -> dict[int, tuple[str, str]]:
    result = tx.run(READ_APPLIED)
    return {rec["version"]: (rec["name"], rec["checksum"]) for rec in result}


def plan(driver: Driver, folder: Path, database: str | None = None) -> list[Migration]:
    """Migrations not yet applied; raises if an applied file has changed or vanished."""
    available = load_migrations(folder)
    with causal_session(driver, database) as session:
        applied = session.execute_read(_read_applied_tx)
    by_version = {m.version: m for m in available}
    for version, (name, checksum) in applied.items():
        current = by_version.get(version)
        if current is None:
            raise MigrationError(
                f"migration {version:04d}_{name} is recorded in the graph but its file is gone"
            )
        if current.checksum != checksum:
            raise MigrationError(
                f"{current.path.name} was changed after it was applied (checksum "
                f"{checksum[:12]} recorded, {current.checksum[:12]} now); "
                "add a new migration instead"
            )
    return [m for m in available if m.version not in applied]


def _run_statement(driver: Driver, statement: str, database: str | None) -> None:
    if statement.startswith(AUTO_COMMIT_PREFIX):
        with causal_session(driver, database) as session:
            session.run(statement[len(AUTO_COMMIT_PREFIX) :].strip()).consume()
    else:
        driver.execute_query(statement, database_=database)


def migrate(
    driver: Driver,
    folder: Path | None = None,
    *,
    dry_run: bool = False,
    database: str | None = None,
) -> MigrationReport:
    """Apply pending migrations in order (or only list them with ``dry_run``)."""
    folder = folder or default_migrations_dir()
    driver.execute_query(CREATE_MIGRATION_CONSTRAINT, database_=database)
    pending = plan(driver, folder, database)
    if dry_run:
        return MigrationReport(applied=(), pending=tuple(pending), dry_run=True)
    done: list[Migration] = []
    for migration in pending:
        started = time.perf_counter()
        for index, statement in enumerate(migration.statements, start=1):
            try:
                _run_statement(driver, statement, database)
            except Exception as exc:
                raise MigrationError(
                    f"{migration.path.name}: statement {index} failed: {exc}"
                ) from exc
        duration_ms = int((time.perf_counter() - started) * 1000)
        driver.execute_query(
            RECORD_APPLIED,
            version=migration.version,
            name=migration.name,
            checksum=migration.checksum,
            duration_ms=duration_ms,
            database_=database,
        )
        done.append(migration)
    return MigrationReport(applied=tuple(done), pending=(), dry_run=False)


class Migrations(StoreArea):
    """The store's migrations operations, bound to its driver and database."""

    def plan(self, folder: Path) -> list[Migration]:
        """Migrations not yet applied; raises if an applied file has changed or vanished."""
        return plan(self.driver, folder, database=self.database)

    def migrate(self, folder: Path | None = None, *, dry_run: bool = False) -> MigrationReport:
        """Apply pending migrations in order (or only list them with ``dry_run``)."""
        return migrate(self.driver, folder, dry_run=dry_run, database=self.database)
