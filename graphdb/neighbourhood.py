"""The graph around a user, for drawing (``/users/<id>/graph``): nodes and edges within a
few hops, as frozen dataclasses, so no driver type leaves ``graphdb/``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neo4j import Driver, RoutingControl

# The neighbourhood is read by depth-specific constants: Cypher cannot parameterise the
# bounds of a variable-length pattern.
_NEIGHBOURHOOD_TAIL = """
WITH p LIMIT $limit
UNWIND relationships(p) AS r
WITH DISTINCT r
RETURN elementId(startNode(r)) AS source, elementId(endNode(r)) AS target, type(r) AS type,
       r.weight AS weight, startNode(r) AS a, endNode(r) AS b
"""
_HOPS = "-[:INTERACTED|INTERESTED_IN|IN_CATEGORY|BY_BRAND|SUBCATEGORY_OF|HAS_TAG"
NEIGHBOURHOOD = {
    1: "MATCH p = (u:User {user_id: $user_id})" + _HOPS + "*1..1]-()" + _NEIGHBOURHOOD_TAIL,
    2: "MATCH p = (u:User {user_id: $user_id})" + _HOPS + "*1..2]-()" + _NEIGHBOURHOOD_TAIL,
    3: "MATCH p = (u:User {user_id: $user_id})" + _HOPS + "*1..3]-()" + _NEIGHBOURHOOD_TAIL,
}
# The property that identifies a node of each label (its ``key`` in a neighbourhood).
_NODE_KEYS = {
    "User": "user_id",
    "Item": "item_id",
    "Category": "category_id",
    "Brand": "brand_id",
    "Tag": "tag_id",
}


@dataclass(frozen=True)
class NodeView:
    """A node as drawn: its element id, first label, identifying property and name."""

    id: str
    label: str
    key: Any
    name: Any


@dataclass(frozen=True)
class EdgeView:
    """A relationship as drawn, between two :class:`NodeView` ids."""

    source: str
    target: str
    type: str
    weight: float | None


@dataclass(frozen=True)
class Neighbourhood:
    """Nodes and edges within some hops of a user."""

    nodes: tuple[NodeView, ...]
    edges: tuple[EdgeView, ...]


def _node_view(node: Any) -> NodeView:
    label = sorted(node.labels)[0] if node.labels else "Node"
    props = dict(node)
    return NodeView(
        id=node.element_id,
        label=label,
        key=props.get(_NODE_KEYS.get(label, "")),
        name=props.get("title") or props.get("name"),
    )


def neighbourhood(
    driver: Driver, user_id: str, depth: int, limit: int, database: str | None = None
) -> Neighbourhood:
    """Nodes and edges within ``depth`` hops of a user, for drawing."""
    records = driver.execute_query(
        NEIGHBOURHOOD[depth],
        user_id=user_id,
        limit=limit,
        database_=database,
        routing_=RoutingControl.READ,
    ).records
    nodes: dict[str, NodeView] = {}
    edges = []
    for r in records:
        for node in (r["a"], r["b"]):
            nodes.setdefault(node.element_id, _node_view(node))
        edges.append(EdgeView(r["source"], r["target"], r["type"], r["weight"]))
    return Neighbourhood(tuple(nodes.values()), tuple(edges))
