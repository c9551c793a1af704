"""The API runs on an install without torch (the base install API replicas use).

The subprocess blocks ``torch`` and ``torch_geometric`` (an import of either raises), then
builds the app and serves reads and a write against the real server. A view or module that
reaches torch on the request path fails here, not on a user's replica.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from neo4j import Driver

from app.ingest.importer import import_events, import_items
from app.ingest.sources.demo import demo_stream
from app.ingest.validation import IntakeLimits
from graphdb.fold import FoldConfig
from graphdb.store import GraphStore
from tests.conftest import Neo4jTestServer

SERVE_WITHOUT_TORCH = """
import json, sys
for name in ("torch", "torch_geometric", "sentence_transformers"):
    sys.modules[name] = None  # 'import torch' now raises ImportError
from app.api import create_app
from app.settings import load_settings
import app.api.wsgi  # gunicorn's entry point imports nothing more
client = create_app(load_settings()).test_client()
paths = ["/api/v1/graph/stats", "/api/v1/users/demo:u1/recommendations?k=5",
         "/api/v1/items/demo:i1/similar?k=3", "/api/v1/items/search?q=coffee", "/docs"]
codes = {path: client.get(path).status_code for path in paths}
event = {"user_id": "demo:u1", "item_id": "demo:i2", "type": "purchase",
         "ts": "2024-06-02T00:00:00Z"}
codes["POST /api/v1/events"] = client.post("/api/v1/events", json=event).status_code
loaded = sorted(m for m, mod in sys.modules.items()
                if mod is not None and m.split(".")[0] in ("torch", "torch_geometric"))
print(json.dumps({"codes": codes, "loaded": loaded}))
"""


def test_api_serves_with_torch_blocked(graph: Driver, neo4j_server: Neo4jTestServer) -> None:
    stream = demo_stream(n_users=20, n_items=40, n_events=300, seed=2,
                         now=datetime(2024, 6, 1, tzinfo=UTC))  # fmt: skip
    store = GraphStore(graph)
    import_items(store, stream.items(), progress=False)
    import_events(store, stream.events(), FoldConfig(), IntakeLimits(), progress=False)
    target = neo4j_server.target
    env = {**os.environ, "IG_NEO4J_URI": target.uri, "IG_API_AUTH": "false",
           "IG_NEO4J_AUTH": "true" if target.password else "false"}  # fmt: skip
    if target.password:
        env["IG_NEO4J_PASSWORD"] = target.password
    done = subprocess.run([sys.executable, "-c", SERVE_WITHOUT_TORCH], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    assert all(code == 200 for code in result["codes"].values()), result["codes"]
