"""docs/cypher-cookbook.md stays true: every recipe runs on a loaded demo shop and its answer
is checked against a plain-Python reading of the same events, and every stored INTERACTED
weight equals what the documented recompute query derives from the raw Interaction nodes."""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from neo4j import Driver

from app.ingest.importer import import_events, import_items
from app.ingest.sources.demo import demo_stream
from app.ingest.validation import IntakeLimits
from app.worker.tagging import run_tagging
from graphdb.catalog import category_ids, slug
from graphdb.embeddings import NodeVectors, write_model_version
from graphdb.fold import FoldConfig
from graphdb.store import GraphStore
from ml.sentiment import score_text
from ml.tag_interests import UserEvent, tag_interests

DOCS = Path(__file__).resolve().parents[2] / "docs"
NOW = datetime(2024, 6, 1, tzinfo=UTC)
# A one-week half-life makes decay matter across the demo's 90 days, so a wrong anchor shows.
FOLD = FoldConfig(half_life_days=7.0)
PENDING_ITEM = "cookbook:pending-1"
CLEAN_DATA = "MATCH (n) WHERE NOT n:SchemaMigration DETACH DELETE n"
RECOMPUTE_INTERACTED = "Recompute an INTERACTED weight by hand"
RECOMPUTE_INTERESTS = "Recompute a user's INTERESTED_IN weights by hand"
MIN_RECIPES = 8
# Of the order of the seeded vectors' cosines, so both parts of the served score matter.
PRIOR_WEIGHT = 0.05


# --------------------------------------------------------------------------- the cookbook


@dataclass(frozen=True)
class Recipe:
    title: str
    query: str
    documented: frozenset[str]

    @property
    def used(self) -> frozenset[str]:
        return frozenset(re.findall(r"\$(\w+)", self.query))


def parse_cookbook(text: str) -> list[Recipe]:
    """One recipe per ``### `` section: exactly one cypher block, then a Parameters line."""
    parts = re.split(r"^### (.+)$", text, flags=re.M)[1:]
    recipes = []
    for title, body in zip(parts[::2], parts[1::2], strict=True):
        blocks = re.findall(r"```cypher\n(.*?)```", body, flags=re.S)
        assert len(blocks) == 1, f"'{title}' needs exactly one cypher block, has {len(blocks)}"
        line = re.search(r"^Parameters: (.+)$", body.split("```cypher", 1)[1], flags=re.M)
        assert line, f"'{title}' needs a 'Parameters: ...' line under its block"
        names = frozenset(re.findall(r"\$(\w+)", line.group(1)))
        assert names or line.group(1).strip() == "none", f"'{title}': unreadable {line.group(0)}"
        recipes.append(Recipe(title.strip(), blocks[0], names))
    return recipes


RECIPES = parse_cookbook((DOCS / "cypher-cookbook.md").read_text(encoding="utf-8"))
BY_TITLE = {r.title: r for r in RECIPES}


def test_cookbook_is_complete_and_documents_its_parameters() -> None:
    assert len(RECIPES) >= MIN_RECIPES, f"only {len(RECIPES)} recipes"
    assert len(BY_TITLE) == len(RECIPES), "duplicate recipe titles"
    # Every recipe has a check below, so a new one cannot slip in merely "running".
    assert set(CHECKS) == set(BY_TITLE), f"recipes vs CHECKS: {set(CHECKS) ^ set(BY_TITLE)}"
    for recipe in RECIPES:
        assert recipe.documented == recipe.used, (
            f"'{recipe.title}': documents {sorted(recipe.documented)}, uses {sorted(recipe.used)}"
        )


def test_graph_model_quotes_the_cookbook_recompute_query() -> None:
    model = (DOCS / "graph-model.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```cypher\n(.*?)```", model, flags=re.S)
    assert BY_TITLE[RECOMPUTE_INTERACTED].query in blocks, "graph-model.md recompute query drifted"


# --------------------------------------------------------------------------- the loaded shop


def _ms(value: str | datetime) -> int:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return int(moment.timestamp() * 1000)


@dataclass
class Shop:
    """The imported records plus a Python reading of them (the oracle for every check)."""

    events: list[dict[str, Any]]
    items: list[dict[str, Any]]
    since: Any  # the server's clock just before loading
    params: dict[str, Any]
    vectors: dict[str, dict[str, np.ndarray]]  # label -> node id -> the embedding written
    item_tags: dict[str, dict[str, float]]  # item -> tag -> HAS_TAG weight, after tagging
    leaf: dict[str, str] = field(init=False)
    department: dict[str, str] = field(init=False)
    brand: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.leaf = {i["item_id"]: category_ids(i["category_path"])[-1] for i in self.items}
        self.department = {i["item_id"]: category_ids(i["category_path"])[0] for i in self.items}
        self.brand = {i["item_id"]: slug(i["brand"]) for i in self.items}

    def weight_now(self, event: dict[str, Any]) -> float:
        return FOLD.contribution(event["type"], event.get("value")) * FOLD.decay(
            _ms(NOW) - _ms(event["ts"])
        )

    def sum_now(self, key: Callable[[dict[str, Any]], object]) -> dict[object, float]:
        sums: dict[object, float] = defaultdict(float)
        for event in self.events:
            sums[key(event)] += self.weight_now(event)
        return dict(sums)

    def tags_now(self, user_id: str) -> dict[str, float]:
        """tag -> weight at NOW, by the documented rule over the user's raw events."""
        events = [
            UserEvent(e["item_id"], e["type"], _ms(e["ts"]),
                      FOLD.contribution(e["type"], e.get("value")), e.get("text"),
                      score_text(e["text"]) if e.get("text") else None)
            for e in self.events if e["user_id"] == user_id
        ]  # fmt: skip
        return {
            i.tag_id: i.weight * FOLD.decay(_ms(NOW) - i.last_ms)
            for i in tag_interests(events, self.item_tags, FOLD.half_life_ms)
        }

    def interests_now(self, user_id: str) -> dict[tuple[str, str], float]:
        """(kind, id) -> weight at NOW, from the user's events on catalogued items."""
        weights: dict[tuple[str, str], float] = defaultdict(float)
        for event in self.events:
            item = event["item_id"]
            if event["user_id"] == user_id and item in self.leaf:
                weights[("category", self.leaf[item])] += self.weight_now(event)
                weights[("brand", self.brand[item])] += self.weight_now(event)
        return dict(weights)


def _pending_events(user_id: str) -> list[dict[str, Any]]:
    """Events on an item the catalog never sent: it must show up as catalog-pending."""
    return [
        {"event_id": f"cookbook:p{k}", "user_id": user_id, "item_id": PENDING_ITEM,
         "type": "view", "ts": (NOW - timedelta(hours=k + 1)).isoformat()}
        for k in range(3)
    ]  # fmt: skip


def _write_vectors(driver: Driver) -> dict[str, dict[str, np.ndarray]]:
    """Seeded vectors through the real write-back path, so the KNN recipes have answers."""
    rng = np.random.default_rng(7)
    vectors = {}
    for label, key in (("User", "user_id"), ("Item", "item_id")):
        ids = [r["id"] for r in driver.execute_query(
            f"MATCH (n:{label}) RETURN n.{key} AS id ORDER BY id").records]  # fmt: skip
        block = rng.standard_normal((len(ids), 64)).astype(np.float32)
        vectors[label] = NodeVectors(ids, block)
    write_model_version(driver, "cookbook-v1", vectors["User"], vectors["Item"], model="seeded",
                        config={}, metrics={"recall@20": 0.0}, prior_weight=PRIOR_WEIGHT)  # fmt: skip
    return {label: dict(zip(nv.ids, nv.vectors, strict=True)) for label, nv in vectors.items()}


def _cosine_ranking(shop: Shop, query: np.ndarray, candidates: list[str]) -> list[str]:
    unit, items = query / np.linalg.norm(query), shop.vectors["Item"]
    score = {c: float(items[c] @ unit / np.linalg.norm(items[c])) for c in candidates}
    return sorted(candidates, key=lambda c: (-score[c], c))


def _params(driver: Driver, user_id: str, since: Any) -> dict[str, Any]:
    top = driver.execute_query(
        "MATCH (:User {user_id: $u})-[r]->(t) WHERE type(r) IN ['INTERACTED', 'INTERESTED_IN'] "
        "WITH labels(t)[0] AS label, coalesce(t.item_id, t.category_id, t.brand_id) AS id, "
        "r.count AS n ORDER BY n DESC, id RETURN label, collect(id)[0] AS id",
        u=user_id,
    ).records
    best = {r["label"]: r["id"] for r in top}
    tag = driver.execute_query(
        "MATCH (:User {user_id: $u})-[r:INTERESTED_IN]->(t:Tag) "
        "RETURN t.tag_id AS id ORDER BY r.weight DESC, id LIMIT 1",
        u=user_id,
    ).records
    return {
        "user_id": user_id,
        "item_id": best["Item"],
        # The department, so the subcategory walk (*0..) has levels to cross.
        "category_id": best["Category"].split("/")[0],
        "brand_id": best["Brand"],
        "tag_id": tag[0]["id"],
        "half_life_ms": FOLD.half_life_ms,
        "now": NOW,
        "limit": 10,
        "window_days": 15,
        "windows": 6,
        "level": 0,
        "min_buyers": 1,  # the small demo has no pair bought by two users
        "min_ratings": 1,
        "since": since,
        "overlap_seconds": 5,
    }


@pytest.fixture(scope="module")
def shop(driver: Driver) -> Iterator[Shop]:
    # One load for the module: the session driver is shared with tests whose `graph` fixture
    # wipes the data, but pytest runs this module's tests back to back, so nothing intervenes.
    driver.execute_query(CLEAN_DATA)
    since = driver.execute_query("RETURN datetime() AS t").records[0]["t"]
    stream = demo_stream(n_users=60, n_items=80, n_events=3000, seed=7, now=NOW)
    items, events = list(stream.items()), list(stream.events())
    user_id = Counter(e["user_id"] for e in events).most_common(1)[0][0]
    events += _pending_events(user_id)
    # Shuffled, in several batches: edges get merged out of time order, as in real intake.
    random.Random(7).shuffle(events)
    import_items(GraphStore(driver), items, progress=False)
    stats = import_events(
        GraphStore(driver), events, FOLD, IntakeLimits(), batch_size=600, progress=False
    )
    assert stats.created == len(events)
    vectors = _write_vectors(driver)
    run_tagging(GraphStore(driver), FOLD.half_life_ms)
    item_tags: dict[str, dict[str, float]] = defaultdict(dict)
    for r in driver.execute_query(
        "MATCH (i:Item)-[r:HAS_TAG]->(t:Tag) RETURN i.item_id AS i, t.tag_id AS t, r.weight AS w"
    ).records:
        item_tags[r["i"]][r["t"]] = r["w"]
    yield Shop(events, items, since, _params(driver, user_id, since), vectors, dict(item_tags))
    driver.execute_query(CLEAN_DATA)


# --------------------------------------------------------------------------- per-recipe checks

Rows = list[dict[str, Any]]
approx = pytest.approx


def check_stats(rows: Rows, shop: Shop) -> None:
    totals = {r["name"]: r["total"] for r in rows}
    pairs = {(e["user_id"], e["item_id"]) for e in shop.events}
    assert totals["User"] == len({e["user_id"] for e in shop.events})
    assert totals["Item"] == len(shop.items) + 1  # + the catalog-pending one
    assert totals["Interaction"] == totals["PERFORMED"] == len(shop.events)
    assert totals["INTERACTED"] == len(pairs)
    assert totals["IN_CATEGORY"] == totals["BY_BRAND"] == len(shop.items)


def check_profile(rows: Rows, shop: Shop) -> None:
    weights = shop.interests_now(shop.params["user_id"])
    assert {r["kind"] for r in rows} == {"category", "brand"}
    assert len(rows) == min(len(weights), shop.params["limit"])
    for row in rows:
        assert row["weight_now"] == approx(weights[(row["kind"], row["id"])], rel=1e-9)
    assert rows[0]["weight_now"] == approx(max(weights.values()), rel=1e-9)
    assert [r["weight_now"] for r in rows] == sorted((r["weight_now"] for r in rows), reverse=True)


def check_strongest_items(rows: Rows, shop: Shop) -> None:
    user = shop.params["user_id"]
    weights = shop.sum_now(lambda e: (e["user_id"], e["item_id"]))
    assert rows
    for row in rows:
        assert row["weight_now"] == approx(weights[(user, row["item_id"])], rel=1e-9)
    best = max(w for (u, _), w in weights.items() if u == user)
    assert rows[0]["weight_now"] == approx(best, rel=1e-9)


def check_recompute(rows: Rows, shop: Shop) -> None:
    assert len(rows) == 1
    row = rows[0]
    assert row["stored"] == approx(row["recomputed"], rel=1e-9, abs=1e-12)
    assert row["events"] == row["edge_count"] > 0


def check_interest_recompute(rows: Rows, shop: Shop) -> None:
    assert rows
    for row in rows:
        assert row["stored"] == approx(row["recomputed"], rel=1e-9, abs=1e-12), row
        assert row["events"] == row["edge_count"], row


def check_top_in_category(rows: Rows, shop: Shop) -> None:
    department = shop.params["category_id"]
    scores = shop.sum_now(lambda e: e["item_id"])
    inside = {i for i in scores if shop.department.get(str(i)) == department}
    expected = sorted(inside, key=lambda i: (-scores[i], i))[: shop.params["limit"]]
    assert [r["item_id"] for r in rows] == expected
    for row in rows:
        assert row["category_id"].startswith(department + "/")
        assert row["score"] == approx(scores[row["item_id"]], rel=1e-9)


def check_shared_users(rows: Rows, shop: Shop) -> None:
    items: dict[str, set[str]] = defaultdict(set)
    for event in shop.events:
        items[event["user_id"]].add(event["item_id"])
    user = shop.params["user_id"]
    mine = items[user]
    overlap = {u: (len(mine & t), len(mine & t) / len(mine | t)) for u, t in items.items()}
    others = [u for u, (n, _) in overlap.items() if n and u != user]
    expected = sorted(others, key=lambda u: (-overlap[u][0], -overlap[u][1], u))
    assert [r["user_id"] for r in rows] == expected[: shop.params["limit"]]
    for row in rows:
        assert (row["shared"], row["jaccard"]) == approx(overlap[row["user_id"]])


def check_drift(rows: Rows, shop: Shop) -> None:
    p = shop.params
    window_ms = p["window_days"] * 86_400_000.0
    sums: dict[int, Counter[str]] = defaultdict(Counter)
    for event in shop.events:
        age = _ms(NOW) - _ms(event["ts"])
        mine = event["user_id"] == p["user_id"] and event["item_id"] in shop.department
        if mine and 0 <= age < p["windows"] * window_ms:
            weight = FOLD.contribution(event["type"], event.get("value"))
            sums[int(age / window_ms)][shop.department[event["item_id"]]] += weight
    assert [r["window_index"] for r in rows] == sorted(sums)
    for row in rows:
        ranked = sorted(sums[row["window_index"]].items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        assert [c["category_id"] for c in row["top_categories"]] == [c for c, _ in ranked]
        assert [c["weight"] for c in row["top_categories"]] == approx([w for _, w in ranked])
        assert row["top_category"] == ranked[0][0]


def check_co_purchases(rows: Rows, shop: Shop) -> None:
    bought: dict[str, set[str]] = defaultdict(set)
    for event in shop.events:
        if event["type"] == "purchase":
            bought[event["user_id"]].add(event["item_id"])
    pairs = Counter(p for items in bought.values() for p in combinations(sorted(items), 2))
    expected = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[: shop.params["limit"]]
    assert [((r["item_a"], r["item_b"]), r["buyers"]) for r in rows] == expected
    assert rows


def check_lowest_rated(rows: Rows, shop: Shop) -> None:
    stars = [r["stars"] for r in rows]
    assert rows and stars == sorted(stars) and all(1 <= s <= 5 for s in stars)


def check_brand_audience(rows: Rows, shop: Shop) -> None:
    brand = ("brand", shop.params["brand_id"])
    assert shop.params["user_id"] in {r["user_id"] for r in rows}
    for row in rows:
        expected = shop.interests_now(row["user_id"])[brand]
        assert row["weight_now"] == approx(expected, rel=1e-9)


def check_user_tags(rows: Rows, shop: Shop) -> None:
    weights = shop.tags_now(shop.params["user_id"])
    expected = sorted(weights, key=lambda t: (-weights[t], t))[: shop.params["limit"]]
    assert [r["tag"] for r in rows] == expected
    for row in rows:
        assert row["weight_now"] == approx(weights[row["tag"]], rel=1e-9)
        assert row["items"] and all(row["tag"] in shop.item_tags[i] for i in row["items"])


def check_tag_audience(rows: Rows, shop: Shop) -> None:
    tag = shop.params["tag_id"]
    users = sorted({e["user_id"] for e in shop.events})
    liked = {u: w for u in users if (w := shop.tags_now(u).get(tag, 0.0)) > 0}
    expected = sorted(liked, key=lambda u: (-liked[u], u))[: shop.params["limit"]]
    assert shop.params["user_id"] in liked and [r["user_id"] for r in rows] == expected
    for row in rows:
        assert row["weight_now"] == approx(liked[row["user_id"]], rel=1e-9)


def check_pending(rows: Rows, shop: Shop) -> None:
    assert [(r["item_id"], r["events"]) for r in rows] == [(PENDING_ITEM, 3)]


def check_changed(rows: Rows, shop: Shop) -> None:
    assert len(rows) == shop.params["limit"]
    assert all(r["changed_at"] > shop.since for r in rows)
    assert {r["label"] for r in rows} <= {"User", "Item"}


def check_similar_items(rows: Rows, shop: Shop) -> None:
    probe = shop.params["item_id"]
    others = sorted(i for i in shop.vectors["Item"] if i != probe)
    expected = _cosine_ranking(shop, shop.vectors["Item"][probe], others)
    got = [r["item_id"] for r in rows]
    assert len(got) == shop.params["limit"] and probe not in got
    # HNSW is approximate; on a catalogue this small it should agree almost exactly.
    assert len(set(got) & set(expected[: len(got)])) >= len(got) - 1


def check_user_taste(rows: Rows, shop: Shop) -> None:
    user = shop.params["user_id"]
    seen = {e["item_id"] for e in shop.events if e["user_id"] == user}
    unseen = sorted(set(shop.vectors["Item"]) - seen)
    expected = _cosine_ranking(shop, shop.vectors["User"][user], unseen)
    got = [r["item_id"] for r in rows]
    assert len(got) == shop.params["limit"] and not set(got) & seen
    assert len(set(got) & set(expected[: len(got)])) >= len(got) - 1


def check_served_ranking(rows: Rows, shop: Shop) -> None:
    user = shop.params["user_id"]
    seen = {e["item_id"] for e in shop.events if e["user_id"] == user}
    pairs = shop.sum_now(lambda e: (e["user_id"], e["item_id"]))
    degree = Counter(item for (_, item), weight in pairs.items() if weight > 0)
    unit = shop.vectors["User"][user] / np.linalg.norm(shop.vectors["User"][user])
    score = {
        item: float(v @ unit / np.linalg.norm(v)) + PRIOR_WEIGHT * float(np.log1p(degree[item]))
        for item, v in shop.vectors["Item"].items() if item not in seen
    }  # fmt: skip
    expected = sorted(score, key=lambda i: (-score[i], i))[: shop.params["limit"]]
    assert [r["item_id"] for r in rows] == expected
    for row in rows:
        assert row["score"] == pytest.approx(score[row["item_id"]], abs=1e-5)
        assert row["prior"] == pytest.approx(
            PRIOR_WEIGHT * np.log1p(degree[row["item_id"]]), abs=1e-9
        )


def check_active_model(rows: Rows, shop: Shop) -> None:
    assert len(rows) == 1 and rows[0]["version"] == "cookbook-v1" and rows[0]["dims"] == 64
    assert rows[0]["items_embedded"] == len(shop.items) + 1


CHECKS: dict[str, Callable[[Rows, Shop], None]] = {
    "Items most similar to an item (vector index)": check_similar_items,
    "Unseen items closest to a user's taste (vector index)": check_user_taste,
    "Unseen items as the API ranks them (cosine plus the popularity prior)": check_served_ranking,
    "The active model version": check_active_model,
    "Graph size by label and relationship type": check_stats,
    "A user's interest profile": check_profile,
    "A user's strongest items": check_strongest_items,
    RECOMPUTE_INTERACTED: check_recompute,
    RECOMPUTE_INTERESTS: check_interest_recompute,
    "Top items in a category and its subcategories": check_top_in_category,
    "Users who share items with a user": check_shared_users,
    "A user's interest drift across time windows": check_drift,
    "Co-purchased item pairs": check_co_purchases,
    "Lowest-rated items": check_lowest_rated,
    "Users most interested in a brand": check_brand_audience,
    "What a user likes (tags)": check_user_tags,
    "Users who like a tag": check_tag_audience,
    "Catalog-pending items": check_pending,
    "What changed since a watermark": check_changed,
}


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.title for r in RECIPES])
def test_recipe_runs_and_answers_sensibly(recipe: Recipe, shop: Shop, driver: Driver) -> None:
    unknown = recipe.used - set(shop.params)
    assert not unknown, f"'{recipe.title}' uses parameters the test lacks: {sorted(unknown)}"
    params = {name: shop.params[name] for name in recipe.used}
    rows = [r.data() for r in driver.execute_query(recipe.query, params).records]
    CHECKS[recipe.title](rows, shop)


# --------------------------------------------------------------------------- docs = storage


def _users_to_verify(shop: Shop) -> list[str]:
    """The three busiest users (long, out-of-order merges) and two light ones."""
    ranked = [u for u, _ in Counter(e["user_id"] for e in shop.events).most_common()]
    return ranked[:3] + ranked[-2:]


def test_every_stored_interacted_weight_matches_the_recompute_query(
    shop: Shop, driver: Driver
) -> None:
    query = BY_TITLE[RECOMPUTE_INTERACTED].query
    checked = 0
    for user_id in _users_to_verify(shop):
        edges = driver.execute_query(
            "MATCH (:User {user_id: $u})-[:INTERACTED]->(i:Item) RETURN i.item_id AS id", u=user_id
        ).records
        assert edges, f"{user_id} has no INTERACTED edges"
        for edge in edges:
            row = driver.execute_query(
                query, user_id=user_id, item_id=edge["id"], half_life_ms=FOLD.half_life_ms
            ).records[0]
            assert row["stored"] == approx(row["recomputed"], rel=1e-9, abs=1e-12), (
                f"{user_id} -> {edge['id']}: stored {row['stored']}, events say {row['recomputed']}"
            )
            checked += 1
    assert checked >= 20


def test_every_stored_interest_weight_matches_the_recompute_query(
    shop: Shop, driver: Driver
) -> None:
    query = BY_TITLE[RECOMPUTE_INTERESTS].query
    for user_id in _users_to_verify(shop):
        rows = driver.execute_query(query, user_id=user_id, half_life_ms=FOLD.half_life_ms).records
        assert rows, f"{user_id} has no INTERESTED_IN edges"
        for row in rows:
            assert row["stored"] == approx(row["recomputed"], rel=1e-9, abs=1e-12), (
                f"{user_id} -> {row['id']}: stored {row['stored']}, events say {row['recomputed']}"
            )
