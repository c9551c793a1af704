"""Fuzz: schemathesis over every operation of the OpenAPI document, with every check on.

``schemathesis run`` (its examples, coverage and fuzzing phases, positive and negative data)
sends generated requests to a running service and checks each answer: no 5xx, the status
code, content type, headers and body the document declares, schema-violating requests
refused, schema-valid ones accepted, keys required. Metrics (``bench/results/fuzz.json``),
all counted from schemathesis' own reports:

* ``fuzz_cases``: generated test cases run (each one request, or more for auth checks);
* ``fuzz_5xx``: responses with a 5xx status;
* ``fuzz_check_failures``: failed checks, one per case and check (a spec/code mismatch or
  a fault; ``details.failures`` lists schemathesis' unique failures by code);
* ``fuzz_operations``: operations tested (of ``fuzz_operations_total`` in the document);
* ``fuzz_clock_drift``: failures that are only the clock moving, not counted above: an event
  whose ``ts`` was past the document's bound when the document was fetched (the bound is
  "now + skew" as of then) but within it when the request was answered.

Run from the repository root, against its own Neo4j and API (as ``bench/drift.py``), or
against a running service with a key of the admin scope::

    .venv/bin/python bench/fuzz.py [--examples 50] [--seed 0]
    .venv/bin/python bench/fuzz.py --base-url http://127.0.0.1:8000 --api-key igk_...
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema_rs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import REPO_ROOT, local_server, start_api, write_result

WORK = REPO_ROOT / "var" / "bench" / "fuzz"
EXAMPLES = 50  # per operation and phase: about 2,000 cases over the 19 operations
PHASES = "examples,coverage,fuzzing"
SEED = {"item_id": "fz-1", "title": "Seed", "category_path": ["A"], "brand": "B"}


def _schemathesis(
    base_url: str, api_key: str | None, reports: Path, examples: int, seed: int
) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "run",
        f"{base_url}/api/v1/openapi.json", "--checks", "all", "--continue-on-failure",
        "--phases", PHASES, "-n", str(examples), "--seed", str(seed), "--workers", "2",
        "--report", "json,ndjson", "--report-dir", str(reports), "--no-color",
    ]  # fmt: skip
    if api_key:
        command += ["-H", f"Authorization: Bearer {api_key}"]
    # In the reports folder: schemathesis keeps its example database in the working folder.
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=reports)
    if not list(reports.glob("json-*.json")):
        raise RuntimeError(f"schemathesis wrote no report:\n{done.stdout[-3000:]}{done.stderr}")
    return done


def _scenarios(reports: Path) -> list[dict[str, Any]]:
    (ndjson,) = reports.glob("ndjson-*.ndjson")
    events = (json.loads(line) for line in ndjson.read_text().splitlines() if line)
    return [e["ScenarioFinished"]["recorder"] for e in events if "ScenarioFinished" in e]


def _body_validator(spec: dict[str, Any], label: str) -> jsonschema_rs.Draft202012Validator | None:
    method, path = label.split(" ", 1)
    body = spec["paths"].get(path, {}).get(method.lower(), {}).get("requestBody")
    if body is None:
        return None
    schema = body["content"]["application/json"]["schema"]
    return jsonschema_rs.Draft202012Validator({**schema, "components": spec["components"]})


def _drifted(recorder: dict[str, Any], case_id: str, later: dict[str, Any]) -> bool:
    """Whether a refused-as-invalid request body is valid by the document fetched later.

    Only the events body has a bound that moves with the clock; any other failure stays one.
    """
    if recorder["label"] != "POST /api/v1/events":
        return False
    sent = recorder["interactions"].get(case_id, {}).get("request", {}).get("body")
    validator = _body_validator(later, recorder["label"])
    if sent is None or validator is None:
        return False
    return validator.is_valid(json.loads(base64.b64decode(sent["$base64"])))


def _tally(scenarios: list[dict[str, Any]], later: dict[str, Any]) -> dict[str, int]:
    """5xx responses, failed checks (one per case and check) and clock-drift refusals."""
    server_errors = failures = drift = 0
    for recorder in scenarios:
        for interaction in recorder.get("interactions", {}).values():
            server_errors += interaction.get("response", {}).get("status_code", 0) >= 500
        for case_id, checks in recorder.get("checks", {}).items():
            failed = {c["name"] for c in checks if c["status"] == "failure"}
            if failed == {"negative_data_rejection"} and _drifted(recorder, case_id, later):
                drift += 1
            else:
                failures += len(failed)
    return {"fuzz_5xx": server_errors, "fuzz_check_failures": failures, "fuzz_clock_drift": drift}


def fuzz_metrics(base_url: str, api_key: str | None) -> dict[str, float]:
    """Runs schemathesis against a running service; returns the fuzz metrics.

    Args:
        base_url: The service's root, e.g. ``http://127.0.0.1:8000``.
        api_key: A key of the admin scope (every operation is called), or ``None`` where the
            service runs without keys (the document still declares them, so the auth checks
            then count failures: that deployment does not do what the document says).
    """
    return _run(base_url, api_key, EXAMPLES, 0)[0]


def _run(
    base_url: str, api_key: str | None, examples: int, seed: int
) -> tuple[dict[str, float], dict[str, Any]]:
    reports = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        _schemathesis(base_url, api_key, reports, examples, seed)
        (report_file,) = reports.glob("json-*.json")
        report = json.loads(report_file.read_text())
        later = _get(base_url, "/api/v1/openapi.json", None)
        tally = _tally(_scenarios(reports), later)
    finally:
        shutil.rmtree(reports, ignore_errors=True)
    operations = report["operations"]
    metrics = {
        "fuzz_cases": float(report["test_cases"]["generated"]),
        "fuzz_5xx": float(tally["fuzz_5xx"]),
        **{name: float(count) for name, count in tally.items()},
        "fuzz_operations": float(operations["tested"]),
        "fuzz_operations_total": float(operations["total"]),
        "fuzz_seconds": float(report["running_time"]),
    }
    details = {
        "unique_failures": report["test_cases"]["unique_failures"],
        "failures": report["failures"],
        "errors": report["errors"],
        "examples_per_operation": examples,
        "seed": seed,
        "phases": PHASES,
        "warnings": {k: v for k, v in report["warnings"].items() if v},
    }
    return metrics, details


def _get(
    base_url: str, path: str, api_key: str | None, body: Any = None, method: str | None = None
) -> Any:
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    data = json.dumps(body).encode() if body is not None else None
    method = method or ("POST" if data else "GET")
    request = urllib.request.Request(base_url + path, data, headers, method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _own_service() -> tuple[Any, list[subprocess.Popen[bytes]], str, str]:
    """A fresh Neo4j (migrated), an admin key, and the API under gunicorn with keys on."""
    from graphdb.apikeys import create_key
    from graphdb.driver import Neo4jTarget, connect
    from graphdb.local.server import start
    from graphdb.migrations import migrate

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    config = local_server(WORK / "neo4j")
    start(config)
    with connect(Neo4jTarget(config.bolt_uri)) as driver:
        migrate(driver)
        key = create_key(driver, "fuzz", ["admin"])
    env = {"IG_NEO4J_URI": config.bolt_uri, "IG_NEO4J_AUTH": "false", "IG_API_AUTH": "true",
           "IG_MODEL_DIR": str(WORK / "models")}  # fmt: skip
    api, base = start_api(env, workers=2)
    return config, [api], base, key


def _seed(base: str, key: str | None) -> None:
    """One item, user and event, so the lookups that need stored data can find some."""
    _get(base, "/api/v1/items", key, SEED, "PUT")
    _get(base, "/api/v1/events", key, {"user_id": "fz-u", "item_id": "fz-1", "type": "view"})
    _get(base, "/api/v1/refresh", key, {"kind": "incremental"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="a running service (else this script starts one)")
    parser.add_argument("--api-key", help="an admin key for --base-url")
    parser.add_argument("--examples", type=int, default=EXAMPLES, help="per operation, phase")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config, procs = None, []
    base, key = args.base_url, args.api_key
    if base is None:
        config, procs, base, key = _own_service()
    try:
        _seed(base, key)
        metrics, details = _run(base, key, args.examples, args.seed)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=60)
        if config is not None:
            from graphdb.local.server import stop

            stop(config)
    path = write_result("fuzz", metrics, details)
    print(json.dumps(metrics, indent=2), f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
