"""A Neo4j Browser guide (``:play <url>``) through one user's interest graph, and the style.

Browser fetches both from the page it runs in, with no API key, so they are public and carry
``Access-Control-Allow-Origin: *``; they hold no data, only Cypher that reads the graph the
analyst is already connected to. The Neo4j server must allow the API's host in
``browser.remote_content_hostname_allowlist`` (docs/graph-model.md).
"""

from __future__ import annotations

from html import escape
from importlib.resources import files

from flask import Blueprint, Response, request
from pydantic import Field, TypeAdapter, ValidationError

from app.api.errors import ApiError
from app.api.openapi import operation
from app.api.params import QueryModel
from app.api.wiring import graph_store
from app.ingest.ids import ID_RULE, MAX_ID_CHARS, Identifier
from graphdb.slots import SLOTS, slot_of

bp = Blueprint("guide", __name__)
GRASS = "interest-graph.grass"
# Any id the service stores can be shown: the ids' own rule (as the id path converter checks
# it), then quoted for Cypher.
_ID = TypeAdapter(Identifier)

SLIDES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Whose graph", "Pick the user (and an item to explain), then load the style.", (
        ":param user_id => {user_id}",
        ":param item_id => {item_id}",
        ":style {style_url}",
    )),
    ("What they did", "INTERACTED edges: folded, time-decayed weights of the user's events.", (
        "MATCH p = (:User {user_id: $user_id})-[r:INTERACTED]->(:Item)\n"
        "RETURN p ORDER BY r.weight DESC LIMIT 25",
        "MATCH (:User {user_id: $user_id})-[r:INTERACTED]->(i:Item)\n"
        "RETURN i.item_id AS item, i.title AS title, r.weight AS weight, r.count AS events\n"
        "ORDER BY weight DESC, item LIMIT 25",
    )),
    ("What they like", "INTERESTED_IN edges to categories, brands and key-phrase tags.", (
        "MATCH p = (:User {user_id: $user_id})-[:INTERESTED_IN]->() RETURN p LIMIT 50",
        "MATCH (:User {user_id: $user_id})-[r:INTERESTED_IN]->(t)\n"
        "RETURN labels(t)[0] AS kind, coalesce(t.name, t.tag_id) AS name,\n"
        "       r.weight AS weight, r.count AS events\n"
        "ORDER BY weight DESC, name LIMIT 30",
    )),
    ("Who is like them", "Users sharing items, then nearest users by embedding.", (
        "MATCH (u:User {user_id: $user_id})-[:INTERACTED]->(i:Item)<-[:INTERACTED]-(o:User)\n"
        "WHERE o <> u\n"
        "RETURN o.user_id AS user, count(i) AS shared_items\n"
        "ORDER BY shared_items DESC, user LIMIT 10",
        "MATCH (u:User {user_id: $user_id}) WHERE u.{vector} IS NOT NULL\n"
        "CALL db.index.vector.queryNodes('{user_index}', 11, u.{vector})\n"
        "YIELD node, score WHERE node <> u\n"
        "RETURN node.user_id AS user, score ORDER BY score DESC",
    )),
    ("Why this item", "What links the user to $item_id: interests it matches, "
     "and users like them who took it.", (
        "MATCH p = (:User {user_id: $user_id})-[:INTERESTED_IN]->()"
        "<-[:IN_CATEGORY|BY_BRAND|HAS_TAG]-(:Item {item_id: $item_id})\nRETURN p",
        "MATCH (:User {user_id: $user_id})-[r:INTERESTED_IN]->(t)\n"
        "      <-[:IN_CATEGORY|BY_BRAND|HAS_TAG]-(:Item {item_id: $item_id})\n"
        "RETURN labels(t)[0] AS via, coalesce(t.name, t.tag_id) AS name, r.weight AS weight\n"
        "ORDER BY weight DESC",
        "MATCH (u:User {user_id: $user_id})-[:INTERACTED]->(:Item)<-[:INTERACTED]-(o:User)\n"
        "      -[r:INTERACTED]->(i:Item {item_id: $item_id})\n"
        "WHERE o <> u AND NOT EXISTS { (u)-[:INTERACTED]->(i) }\n"
        "RETURN o.user_id AS user, r.weight AS their_weight\n"
        "ORDER BY their_weight DESC, user LIMIT 10",
    )),
)  # fmt: skip


def _id_arg(name: str, default: str) -> str:
    value = request.args.get(name, default)
    try:
        return _ID.validate_python(value)
    except ValidationError:
        message = f"query parameter '{name}': {ID_RULE}, at most {MAX_ID_CHARS} characters"
        raise ApiError(400, "invalid_parameter", message, {"parameter": name}) from None


def cypher_string(value: str) -> str:
    """``value`` as a Cypher string literal (for the ``:param`` lines Browser runs)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _filled(block: str, values: dict[str, str]) -> str:
    """``{name}`` placeholders filled in (not ``str.format``: Cypher has braces of its own)."""
    for name, value in values.items():
        block = block.replace("{" + name + "}", value)
    return block


def _slide(title: str, lead: str, blocks: tuple[str, ...], values: dict[str, str]) -> str:
    code = "\n".join(
        f'<pre class="pre-scrollable code runnable">{escape(_filled(block, values))}</pre>'
        for block in blocks
    )
    heading = f'<h3>{escape(title)}</h3><p class="lead">{escape(lead)}</p>'
    return (
        f'<slide class="row-fluid"><div class="col-sm-3">{heading}</div>'
        f'<div class="col-sm-9">{code}</div></slide>'
    )


def render_guide(user_id: str, item_id: str, style_url: str, slot: str | None = None) -> str:
    """The guide's HTML: Browser's guide format, one slide per question, runnable Cypher.

    The embedding statements name the property and vector index of ``slot``, the active
    version's (``graphdb.slots``; slot ``a`` before any training).
    """
    names = slot_of(slot) if slot is not None else SLOTS["a"]
    values = {"user_id": cypher_string(user_id), "item_id": cypher_string(item_id),
              "style_url": style_url, "vector": names.vector,
              "user_index": names.user_index}  # fmt: skip
    slides = "\n".join(_slide(title, lead, blocks, values) for title, lead, blocks in SLIDES)
    deck = f'<carousel class="deck container-fluid">{slides}</carousel>'
    return f'<article class="guide">{deck}</article>'


def _public(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


class GuideQuery(QueryModel):
    """Whose graph the guide walks through, and which item it explains."""

    user_id: Identifier = Field("demo:u1", description="the user whose interest graph to show")
    item_id: Identifier = Field("demo:i1", description="the item whose recommendation to explain")


@bp.get("/browser/guide.html")
@operation(None, query=GuideQuery, media="text/html")
def guide_page() -> Response:
    """A Neo4j Browser guide through one user's interest graph.

    Open it in Browser with `:play <this URL>`: slides of runnable Cypher over the user's
    interactions, interests, similar users and why an item was recommended, and the style.
    """
    user_id = _id_arg("user_id", "demo:u1")
    item_id = _id_arg("item_id", "demo:i1")
    style_url = request.host_url.rstrip("/") + "/browser/" + GRASS
    active = graph_store().embeddings.active_version()
    page = render_guide(user_id, item_id, style_url, active.slot if active else None)
    return _public(Response(page, mimetype="text/html"))


@bp.get(f"/browser/{GRASS}")
@operation(None, media="text/plain")
def style() -> Response:
    """The graph style for Neo4j Browser (load it with `:style <this URL>`)."""
    text = files("app").joinpath("static", GRASS).read_text()
    return _public(Response(text, mimetype="text/plain"))
