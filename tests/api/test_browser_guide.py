"""The Neo4j Browser guide: its format, the style it serves, and every statement run for real."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from flask.testing import FlaskClient
from neo4j import Driver

from app.worker.tagging import run_tagging
from graphdb.fold import FoldConfig
from graphdb.store import GraphStore
from tests.api.test_tags_api import ITEMS as TAG_ITEMS

NOW = datetime.now(UTC).replace(microsecond=0)
# The tag tests' phone and case, both by one brand, so the brand explains the case to ann.
ITEMS = [TAG_ITEMS[0], {**TAG_ITEMS[1], "brand": "Pixel"}]


class _RunnableBlocks(HTMLParser):
    """The text of every <pre class="... runnable"> block, and the slide count."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[str] = []
        self.slides = 0
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        self.slides += tag == "slide"
        if tag == "pre" and "runnable" in classes:
            self._inside = True
            self.blocks.append("")

    def handle_endtag(self, tag: str) -> None:
        self._inside = self._inside and tag != "pre"

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.blocks[-1] += data


def _load(client: FlaskClient, graph: Driver) -> None:
    assert client.put("/api/v1/items", json=ITEMS).status_code == 200
    at = [(NOW - timedelta(days=d)).isoformat() for d in (3, 2, 1)]
    events = [
        {"user_id": "ann", "item_id": "phone", "type": "purchase", "ts": at[0]},
        {"user_id": "bob", "item_id": "phone", "type": "view", "ts": at[1]},
        {"user_id": "bob", "item_id": "case", "type": "purchase", "ts": at[2]},
    ]
    assert client.post("/api/v1/events", json=events).status_code == 200
    run_tagging(GraphStore(graph), FoldConfig().half_life_ms, overlap_s=0)
    vector = [1.0] + [0.0] * 63  # both users embedded, so the vector-index statement runs too
    graph.execute_query("MATCH (u:User) SET u.embedding_a = $v", v=vector)  # no version: a


def test_every_statement_of_the_guide_runs(client: FlaskClient, graph: Driver) -> None:
    _load(client, graph)
    response = client.get("/browser/guide.html?user_id=ann&item_id=case")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    page = response.get_data(as_text=True)
    assert page.startswith('<article class="guide"><carousel class="deck')
    parser = _RunnableBlocks()
    parser.feed(page)
    assert parser.slides == 5
    commands = [b for b in parser.blocks if b.startswith(":")]
    params = dict(re.findall(r":param (\w+) => '([^']*)'", "\n".join(commands)))
    assert params == {"user_id": "ann", "item_id": "case"}
    assert ":style http://localhost/browser/interest-graph.grass" in commands
    statements = [b for b in parser.blocks if not b.startswith(":")]
    assert len(statements) == 9
    answers = [graph.execute_query(s, params).records for s in statements]
    assert {r["item"] for r in answers[1]} == {"phone"}  # what ann did
    assert {r["kind"] for r in answers[3]} >= {"Category", "Brand", "Tag"}
    assert [r["user"] for r in answers[4]] == ["bob"]  # shares the phone
    assert [r["user"] for r in answers[5]] == ["bob"]  # nearest by embedding
    assert "Brand" in {r["via"] for r in answers[7]}  # why the case: same brand as her phone
    assert [r["user"] for r in answers[8]] == ["bob"]  # bob took it


def test_the_style_is_served_and_bad_ids_are_refused(client: FlaskClient) -> None:
    style = client.get("/browser/interest-graph.grass")
    assert style.status_code == 200 and "node.User" in style.get_data(as_text=True)
    bad = client.get("/browser/guide.html?user_id=ann'}) DETACH DELETE (n")
    assert bad.status_code == 400
    body = bad.get_json()
    assert body["error"]["code"] == "invalid_parameter" and "user_id" in body["error"]["message"]


def test_an_id_with_a_quote_stays_one_cypher_string(client: FlaskClient, graph: Driver) -> None:
    parser = _RunnableBlocks()
    parser.feed(
        client.get("/browser/guide.html?user_id=o'neil\\x&item_id=case").get_data(as_text=True)
    )
    line = next(b for b in parser.blocks if b.startswith(":param user_id => "))
    line = line.removeprefix(":param user_id => ")
    assert graph.execute_query(f"RETURN {line} AS id").records[0]["id"] == "o'neil\\x"
