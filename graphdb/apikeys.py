"""API keys kept in the graph: only a SHA-256 of the secret is stored, never the secret.

A key reads ``igk_<key_id>_<secret>``. The id finds the record; the secret's hash is compared
in constant time. The secrets are 256-bit random strings, so a fast hash is enough: there is
nothing to brute-force that a slow password hash would protect.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from neo4j import Driver, RoutingControl
from neo4j.exceptions import DriverError, Neo4jError

from graphdb.area import StoreArea

SCOPES = ("read", "write", "admin")
PREFIX = "igk"

CREATE_KEY = """
CREATE (k:ApiKey {key_id: $key_id, secret_sha256: $digest, name: $name, scopes: $scopes,
                  created_at: datetime(), revoked: false})
"""
READ_KEY = """
MATCH (k:ApiKey {key_id: $key_id})
RETURN k.secret_sha256 AS digest, k.scopes AS scopes, k.revoked AS revoked, k.name AS name
"""
REVOKE_KEY = """
MATCH (k:ApiKey {key_id: $key_id})
SET k.revoked = true, k.revoked_at = datetime()
RETURN count(k) AS n
"""
# The keys revoked after $since, and the server's clock (the next poll's lower bound).
REVOKED_SINCE = """
RETURN datetime.transaction() AS now,
       COLLECT { MATCH (k:ApiKey) WHERE k.revoked_at > $since RETURN k.key_id } AS revoked
"""
LIST_KEYS = """
MATCH (k:ApiKey)
RETURN k.key_id AS key_id, k.name AS name, k.scopes AS scopes, k.revoked AS revoked,
       k.created_at AS created_at
ORDER BY k.created_at
"""


@dataclass(frozen=True)
class ApiKeyInfo:
    key_id: str
    name: str
    scopes: tuple[str, ...]
    revoked: bool
    created_at: datetime | None = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(raw: str) -> tuple[str, str] | None:
    parts = raw.strip().split("_")
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def create_key(driver: Driver, name: str, scopes: list[str], database: str | None = None) -> str:
    """Store a new key and return it in full: the only time the secret is ever shown."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes must be a non-empty subset of {list(SCOPES)}")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32).replace("_", "-")
    driver.execute_query(CREATE_KEY, key_id=key_id, digest=_digest(secret), name=name,
                         scopes=sorted(set(scopes)), database_=database)  # fmt: skip
    return f"{PREFIX}_{key_id}_{secret}"


def verify_key(driver: Driver, raw: str, database: str | None = None) -> ApiKeyInfo | None:
    """The key's record when the key is well-formed, known, unrevoked and its secret matches."""
    parts = split_key(raw)
    if parts is None:
        return None
    key_id, secret = parts
    records = driver.execute_query(
        READ_KEY, key_id=key_id, database_=database, routing_=RoutingControl.READ
    ).records
    if not records:
        return None
    record = records[0]
    if record["revoked"] or not hmac.compare_digest(record["digest"], _digest(secret)):
        return None
    return ApiKeyInfo(key_id, record["name"], tuple(record["scopes"]), False)


def revoke_key(driver: Driver, key_id: str, database: str | None = None) -> bool:
    records = driver.execute_query(REVOKE_KEY, key_id=key_id, database_=database).records
    return bool(records[0]["n"])


def revoked_since(
    driver: Driver, since: datetime, database: str | None = None
) -> tuple[datetime, frozenset[str]]:
    """The server's clock now and the ids of the keys revoked after ``since``."""
    record = driver.execute_query(
        REVOKED_SINCE, since=since, database_=database, routing_=RoutingControl.READ
    ).records[0]
    return record["now"].to_native(), frozenset(record["revoked"])


def list_keys(driver: Driver, database: str | None = None) -> list[ApiKeyInfo]:
    return [
        ApiKeyInfo(
            r["key_id"],
            r["name"],
            tuple(r["scopes"]),
            bool(r["revoked"]),
            r["created_at"].to_native() if r["created_at"] else None,
        )  # fmt: skip
        for r in driver.execute_query(LIST_KEYS, database_=database).records
    ]


class ApiKeys(StoreArea):
    """API keys in the graph (only their digests are stored)."""

    def create(self, name: str, scopes: list[str]) -> str:
        return create_key(self.driver, name, scopes, self.database)

    def verify(self, raw: str) -> ApiKeyInfo | None:
        return verify_key(self.driver, raw, self.database)

    def revoke(self, key_id: str) -> bool:
        return revoke_key(self.driver, key_id, self.database)

    def revoked_since(self, since: datetime) -> tuple[datetime, frozenset[str]] | None:
        """The server's clock now and the ids of the keys revoked after ``since``; ``None``
        when the graph cannot be read (no neo4j error leaves this package)."""
        try:
            return revoked_since(self.driver, since, self.database)
        except (Neo4jError, DriverError):
            return None

    def all(self) -> list[ApiKeyInfo]:
        return list_keys(self.driver, self.database)
