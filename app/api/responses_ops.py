"""What the per-user views, graph views, refresh control and probes answer (as in
``app/api/responses.py``: strict models the OpenAPI document is generated from)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from app.api.responses import Strict, example, strict_dataclass
from graphdb import inspection
from graphdb.refresh_runs import RunKind, RunStatus


class Interest(Strict):
    kind: Literal["category", "brand", "tag"]
    id: str
    name: str | None
    weight: float = Field(description="decayed to now; negative: the user criticised it")
    events: int | None = Field(description="how many events built it")
    last_ts: str | None = Field(description="the newest of them (ISO 8601)")


class WindowCategory(Strict):
    id: str
    name: str | None
    weight: float = Field(description="raw event weight the category got in the window")


class InterestWindow(Strict):
    start: datetime
    end: datetime
    categories: list[WindowCategory]


class InterestChange(Strict):
    id: str
    change: float = Field(description="weight in the newest window less the oldest")


class InterestProfile(Strict):
    """Interests strongest first; how they moved across consecutive windows up to now."""

    user_id: str
    window: str = Field(description="the window length asked for, e.g. 30d")
    interests: list[Interest] = Field(description="categories and brands")
    tags: list[Interest] = Field(
        description="rows with kind 'tag': key-phrase tags of the user's reviews (what they "
        "like; a negative weight means they criticised it)"
    )
    windows: list[InterestWindow] = Field(description="oldest first")
    change: list[InterestChange] = Field(description="largest change first")


class NodeView(Strict):
    id: str = Field(description="element id, for drawing only")
    label: str
    key: Any = Field(description="the node's identifying property")
    name: Any


class EdgeView(Strict):
    source: str
    target: str
    type: str
    weight: float | None


class UserGraph(Strict):
    """Nodes and edges within ``depth`` hops of the user."""

    user_id: str
    depth: int
    nodes: list[NodeView]
    edges: list[EdgeView]


class Deleted(Strict):
    user: int
    interactions: int
    items: int = Field(description="items only this user's events made")
    tags: int = Field(description="tags only this user's reviews gave")


class TransactionLogs(Strict):
    rotated: bool
    purged_within_s: float | None = Field(
        description="seconds until the erased records leave Neo4j's transaction logs; "
        "null where the server's settings give no bound"
    )


class Erasure(Strict):
    """Erased: counts of what went, and when it leaves the transaction logs."""

    model_config = example(
        {
            "user_id": "u1",
            "deleted": {"user": 1, "interactions": 12, "items": 0, "tags": 1},
            "items_marked_for_refresh": 7,
            "transaction_logs": {"rotated": True, "purged_within_s": 900.0},
        }
    )

    user_id: str
    deleted: Deleted
    items_marked_for_refresh: int
    transaction_logs: TransactionLogs


# The graph's own dataclass, read strictly: the view answers ``asdict`` of it, field for field.
GraphStats = strict_dataclass(inspection.GraphStats)


class ModelVersion(Strict):
    version: str
    active: bool | None
    status: str | None = Field(description="staging, active or failed")
    dims: int | None
    model: str | None
    metrics: dict[str, Any] = Field(description="evaluation metrics by name")
    n_users: int | None
    n_items: int | None
    created_at: str | None
    activated_at: str | None = Field(description="null: never activated")


class Models(Strict):
    """Model versions, newest first, and the one served."""

    active: str | None = Field(description="the version served")
    versions: list[ModelVersion]


class RefreshQueued(Strict):
    """Queued (or the run of that kind already queued); Location names it."""

    model_config = example(
        {
            "run_id": "5b0f0d52-8d7e-4c53-9a55-1f3a3c2e9b10",
            "kind": "incremental",
            "status": "queued",
            "force": False,
        }
    )

    run_id: str
    kind: RunKind
    status: RunStatus
    force: bool


class RefreshRun(Strict):
    """A run: timestamps ISO 8601 (null while not reached), what changed and was written."""

    run_id: str
    kind: RunKind
    trigger: str = Field(description="api or schedule")
    status: RunStatus
    requested_at: datetime
    force: bool
    started_at: datetime | None
    finished_at: datetime | None
    changed: int | None
    refreshed: int | None
    written: int | None
    model_version: str | None
    max_untouched_drift: float | None
    pending: int | None = Field(description="moved vectors left for later runs (write budget)")
    max_pending_move: float | None = Field(description="largest move among the pending vectors")
    seconds: float | None
    error: str | None
    reason: str | None


class RefreshRuns(Strict):
    """Refresh runs, newest first."""

    runs: list[RefreshRun] = Field(description="newest first")


class Live(Strict):
    """The process answers."""

    status: Literal["ok"]


class Ready(Strict):
    """The graph store answers."""

    status: Literal["ready"]
    neo4j: Literal["ok"]


class OpenApiDocument(Strict):
    """This document (OpenAPI 3.1)."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]
