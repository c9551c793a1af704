"""Moving erased records out of Neo4j's transaction logs within a known time.

Deleting a node writes its records' *before* images to the transaction log, so an erasure puts
the erased text into the log once more. A log file is pruned only after it has been rotated
(Neo4j keeps the current file whatever the retention policy) and a checkpoint has passed it.
Community Edition has no procedure to rotate or checkpoint on demand, so after an erasure this
module writes one padding transaction as large as ``db.tx_log.rotation.size``: the file
holding the erasure then rotates at once, and the next scheduled checkpoint
(``db.checkpoint.interval.time``) prunes it under the retention policy ``1 files``. The
settings are read from the server (``dbms.listConfig``), so the bound an erasure reports is
the one that holds there.

Measured on Neo4j 5.26 (docs/privacy.md): ``keep_none`` prunes nothing (it reads as
``1 entries``), ``1 files`` prunes every rotated file at the next checkpoint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from neo4j import Driver
from neo4j.exceptions import ClientError

ROTATION_SIZE = "db.tx_log.rotation.size"
RETENTION = "db.tx_log.rotation.retention_policy"
CHECKPOINT_INTERVAL = "db.checkpoint.interval.time"
READ_LOG_SETTINGS = """
CALL dbms.listConfig() YIELD name, value
WHERE name IN $names
RETURN name, value
"""
# Created and deleted in two transactions: a node created and deleted in one writes nothing.
CREATE_PADDING = "CREATE (p:TxLogPadding {pad: $pad}) RETURN elementId(p) AS id"
DELETE_PADDING = "MATCH (p:TxLogPadding) WHERE elementId(p) = $id DELETE p"
# The retention that prunes every rotated file at a checkpoint.
PRUNING_RETENTION = "1 files"
# Padding costs twice its size in log writes; above this the rotation is left to traffic.
MAX_PADDING_BYTES = 16 * 1024 * 1024
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2,
          "mib": 1024**2, "g": 1024**3, "gb": 1024**3, "gib": 1024**3}  # fmt: skip
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True)
class LogPolicy:
    """The server's transaction-log settings, as far as they could be read."""

    rotation_bytes: int | None
    retention: str | None
    checkpoint_interval_s: float | None

    @property
    def purge_bound_s(self) -> float | None:
        """Seconds after a padded rotation within which the erased records leave the logs,
        or ``None`` where these settings promise no bound."""
        if self.retention is None or self.retention.strip().lower() != PRUNING_RETENTION:
            return None
        if not self.padding_bytes:
            return None
        return self.checkpoint_interval_s

    @property
    def padding_bytes(self) -> int | None:
        """How much padding rotates the current file, ``None`` where it is unknown or too big."""
        if self.rotation_bytes is None or self.rotation_bytes > MAX_PADDING_BYTES:
            return None
        return self.rotation_bytes


@dataclass(frozen=True)
class LogFlush:
    """What an erasure did to the transaction logs: whether it rotated the file holding the
    erasure, and within how many seconds that file is pruned (``None``: no stated bound)."""

    rotated: bool
    purged_within_s: float | None


def parse_bytes(text: str) -> int | None:
    """``1048576``, ``1M``, ``1.00MiB`` -> bytes; ``None`` when unreadable."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if match is None or match.group(2).lower() not in _UNITS:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_seconds(text: str) -> float | None:
    """``10s``, ``15m``, ``PT10S``, ``1m30s`` -> seconds; ``None`` when unreadable."""
    spec = text.strip().lower().removeprefix("pt")
    parts = re.findall(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)", spec)
    if not parts or "".join(n + u for n, u in parts) != spec:
        return None
    return sum(float(n) * _SECONDS[u] for n, u in parts)


def read_log_policy(driver: Driver, database: str | None = None) -> LogPolicy:
    """The settings that decide when an erased record leaves the logs (unknown where the
    server refuses ``dbms.listConfig``)."""
    try:
        records = driver.execute_query(
            READ_LOG_SETTINGS, names=[ROTATION_SIZE, RETENTION, CHECKPOINT_INTERVAL],
            database_=database,
        ).records  # fmt: skip
    except ClientError:
        return LogPolicy(None, None, None)
    values = {str(r["name"]): str(r["value"]) for r in records}
    rotation = values.get(ROTATION_SIZE)
    interval = values.get(CHECKPOINT_INTERVAL)
    return LogPolicy(
        rotation_bytes=parse_bytes(rotation) if rotation else None,
        retention=values.get(RETENTION),
        checkpoint_interval_s=parse_seconds(interval) if interval else None,
    )


def rotate_past_erasure(driver: Driver, database: str | None = None) -> LogFlush:
    """Writes one padding transaction as large as the rotation size, so the log file that
    holds the erasure is rotated now and pruned at the next checkpoint."""
    policy = read_log_policy(driver, database)
    size = policy.padding_bytes
    if size is None:
        return LogFlush(rotated=False, purged_within_s=None)
    pad = "0" * size  # a string of one-byte characters: its length is its size in the log
    created = driver.execute_query(CREATE_PADDING, pad=pad, database_=database).records
    driver.execute_query(DELETE_PADDING, id=created[0]["id"], database_=database)
    return LogFlush(rotated=True, purged_within_s=policy.purge_bound_s)
