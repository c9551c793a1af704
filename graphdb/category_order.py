"""The within-category order a model version was trained to prefer (``ml.category_order``),
as the version's metrics hold it."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from neo4j import Driver, RoutingControl

VERSION_METRICS = "MATCH (m:ModelVersion {version: $version}) RETURN m.metrics AS metrics"


@dataclass(frozen=True)
class StoredCategoryOrder:
    """``kappa`` and ``beta`` of a version, ``lambda``, the share of the long-term part of a
    list given out by category, and ``mu``, the session's (``app.serving.intent``); ``None``:
    the version was trained without that choice."""

    popularity_events: float | None = None
    model_weight: float | None = None
    interest_share: float | None = None
    session_share: float | None = None


def _finite(value: object) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def category_order(
    driver: Driver, version: str, database: str | None = None
) -> StoredCategoryOrder:
    records = driver.execute_query(
        VERSION_METRICS, version=version, database_=database, routing_=RoutingControl.READ
    ).records
    if not records or not records[0]["metrics"]:
        return StoredCategoryOrder()
    try:
        metrics = json.loads(records[0]["metrics"])
    except ValueError:
        return StoredCategoryOrder()
    if not isinstance(metrics, dict):
        return StoredCategoryOrder()
    return StoredCategoryOrder(
        _finite(metrics.get("category_popularity_events")),
        _finite(metrics.get("category_model_weight")),
        _share(metrics.get("category_interest_share")),
        _share(metrics.get("category_session_share")),
    )


def _share(value: object) -> float | None:
    share = _finite(value)
    return share if share is not None and share <= 1.0 else None
