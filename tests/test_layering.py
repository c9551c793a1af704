"""House dependency rules, read from the source with ``ast`` (nothing is imported to check).

* ``graphdb/`` is the storage layer: no web framework, no models, no upward imports.
* ``ml/`` trains on arrays: it must not reach into the database, the web layer or storage.
* One folder per process in ``app/``: ``app/serving`` ranks with numpy (neither Flask nor
  torch), ``app/api`` never imports the worker's or training's code, ``app/ingest`` and
  ``app/training`` call no process folder (training may call the ``app/serving`` ranking
  library, to judge the served list on its holdout), nothing but the API and the command line imports
  the API, and no module outside ``graphdb/`` touches ``neo4j``.
* Modules that serve HTTP must start without torch: a web worker should not pay seconds of
  import time and hundreds of MB for a library it only needs in offline jobs.

Each rule is also run over a small tree with one violation planted, to show it catches it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
HTTP_MODULES = ("app/__init__.py", "app/api/*.py", "app/api/errors.py", "app/api/wiring.py",
                "app/ingest/validation.py", "app/ingest/timestamps.py", "app/ingest/ids.py",
                "app/settings.py")  # fmt: skip
FORBIDDEN = {
    "graphdb": {"torch", "torch_geometric", "flask", "app", "ml"},
    "ml": {"neo4j", "flask", "app", "graphdb"},
}
HEAVY = {"torch", "torch_geometric", "ml"}


@dataclass(frozen=True)
class Import:
    path: str  # relative to the repository root
    line: int
    module: str  # absolute dotted name
    names: tuple[str, ...]  # for `from module import a, b`
    top_level: bool  # runs on import (not inside a function or a TYPE_CHECKING block)

    def __str__(self) -> str:
        what = f"from {self.module} import {', '.join(self.names)}" if self.names else self.module
        return f"{self.path}:{self.line}: {what}"


def _package_of(path: Path, root: Path) -> list[str]:
    # a/b/c.py and a/b/__init__.py both live in package a.b
    return list(path.relative_to(root).parts[:-1])


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, top_level: bool) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        nested = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
        hidden = isinstance(child, ast.If) and _is_type_checking(child)
        yield child, top_level
        yield from _walk(child, top_level and not nested and not hidden)


def imports_of(path: Path, root: Path = REPO_ROOT) -> Iterator[Import]:
    rel = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    for node, top_level in _walk(tree, True):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(rel, node.lineno, alias.name, (), top_level)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: level 1 is this file's package, 2 its parent, ...
                package = _package_of(path, root)
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            names = tuple(a.name for a in node.names)
            if not module:  # `from .. import app` above the top package names packages
                yield from (Import(rel, node.lineno, n, (), top_level) for n in names)
            else:
                yield Import(rel, node.lineno, module, names, top_level)


def _root(module: str) -> str:
    return module.split(".")[0]


def _files(*patterns: str) -> list[Path]:
    return sorted({p for pattern in patterns for p in REPO_ROOT.glob(pattern)})


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_never_imports_forbidden_packages(layer: str) -> None:
    files = _files(f"{layer}/**/*.py")
    assert files, f"no Python files under {layer}/"
    bad = [str(i) for f in files for i in imports_of(f) if _root(i.module) in FORBIDDEN[layer]]
    assert not bad, f"{layer}/ must not import {sorted(FORBIDDEN[layer])}:\n" + "\n".join(bad)


def test_http_modules_do_not_import_torch_or_ml_at_module_level() -> None:
    files = _files(*HTTP_MODULES)
    assert len(files) >= 6, files
    bad = [str(i) for f in files for i in imports_of(f) if i.top_level and _root(i.module) in HEAVY]
    assert not bad, "HTTP modules import heavy ML code at import time:\n" + "\n".join(bad)


def _record_uses(path: Path) -> Iterator[str]:
    rel = path.relative_to(REPO_ROOT).as_posix()
    for imp in imports_of(path):
        if _root(imp.module) == "neo4j" and "Record" in imp.names:
            yield str(imp)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        owner = node.value if isinstance(node, ast.Attribute) and node.attr == "Record" else None
        if isinstance(owner, ast.Name) and owner.id == "neo4j":
            yield f"{rel}:{node.lineno}: neo4j.Record"


def test_no_neo4j_record_type_outside_the_storage_layer() -> None:
    # Records are driver objects tied to a session; ml/ and the API take plain dicts / rows.
    bad = [use for f in _files("ml/**/*.py", "app/api/*.py") for use in _record_uses(f)]
    assert not bad, "neo4j.Record referenced outside graphdb/:\n" + "\n".join(bad)


# What the API serves with: numpy only, by design (the short-term scorer, the query encoder).
SERVING_ML_MODULES = {
    "ml",
    "ml.blend",
    "ml.shortterm",
    "ml.shortterm_store",
    "ml.query_encoder",
    "ml.category_order",
}


def test_importing_the_http_layer_does_not_load_torch() -> None:
    code = (
        "import sys, app, app.api.events, app.api.items, app.api.users, app.api.health, "
        "app.api.errors; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'torch_geometric', 'ml'} "
        f"and m not in {sorted(SERVING_ML_MODULES)!r}); "
        "assert not heavy, heavy"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )
    assert done.returncode == 0, f"importing the HTTP layer loaded ML modules:\n{done.stderr}"


def test_the_checker_sees_imports() -> None:
    """Guards the rules against silently matching nothing (e.g. a broken walker)."""
    found = {i.module for i in imports_of(REPO_ROOT / "graphdb" / "ingest.py")}
    assert {"neo4j", "graphdb.fold"} <= found
    lazy = [i for i in imports_of(REPO_ROOT / "app" / "api" / "__init__.py") if not i.top_level]
    assert any(i.module == "app.api" for i in lazy), "function-level imports must be seen too"


# --- One folder per process -------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """Files matching ``files`` (minus ``exempt``) must not import any of ``forbidden``.

    A forbidden name matches the module itself and everything below it (``app.worker`` also
    forbids ``app.worker.refresh``), at any depth of the file: function-level imports count.
    """

    name: str
    files: tuple[str, ...]
    forbidden: tuple[str, ...]
    exempt: tuple[str, ...] = ()

    def violations(self, root: Path) -> list[str]:
        paths = {p for pattern in self.files for p in root.glob(pattern)}
        paths -= {p for pattern in self.exempt for p in root.glob(pattern)}
        return [
            str(imp)
            for path in sorted(paths)
            for imp in imports_of(path, root)
            if any(imp.module == f or imp.module.startswith(f + ".") for f in self.forbidden)
        ]


# The one module that may hold driver types outside graphdb/ (today none needs to: the API and
# the worker reach Neo4j through graphdb.store.GraphStore).
WIRING: tuple[str, ...] = ()

PROCESS_RULES = (
    Rule("app/serving ranks with numpy: neither Flask nor torch",
         ("app/serving/**/*.py",), ("flask", "torch", "torch_geometric", "werkzeug")),
    Rule("app/serving is called by the API, never the other way round",
         ("app/serving/**/*.py",), ("app.api", "app.worker", "app.training", "app.ingest")),
    Rule("app/api never imports the worker's or training's code",
         ("app/api/**/*.py",), ("app.worker", "app.training")),
    Rule("app/ingest and app/training are stages any process may call: they call none",
         ("app/ingest/**/*.py", "app/training/**/*.py"), ("app.api", "app.worker", "app.cli")),
    # Training judges the served list itself on its holdout (app/training/sharing.py), so it
    # may call the ranking library; ingest has no use for it.
    Rule("app/ingest loads data: it ranks nothing",
         ("app/ingest/**/*.py",), ("app.serving",)),
    Rule("app/ingest loads data; training is another stage",
         ("app/ingest/**/*.py",), ("app.training",)),
    Rule("only the API itself and the command line import app/api",
         ("app/**/*.py",), ("app.api",), exempt=("app/api/**/*.py", "app/cli.py", "app/cli_demo.py")),
    Rule("nothing outside graphdb/ (and the wiring module) imports neo4j",
         ("app/**/*.py", "ml/**/*.py"), ("neo4j",), exempt=WIRING),
)  # fmt: skip

# For each rule, a file that breaks it (path relative to a scratch tree, and its source).
PLANTED = {
    PROCESS_RULES[0].name: ("app/serving/rank.py", "def f():\n    import torch\n"),
    PROCESS_RULES[1].name: ("app/serving/rank.py", "from app.worker.refresh import run\n"),
    PROCESS_RULES[2].name: ("app/api/users.py", "from ..training import pipeline\n"),
    PROCESS_RULES[3].name: ("app/training/pipeline.py", "from app.worker import tagging\n"),
    PROCESS_RULES[4].name: ("app/ingest/loading.py", "from app.serving.intent import IntentMix\n"),
    PROCESS_RULES[5].name: ("app/ingest/loading.py", "def f():\n    from app.training import x\n"),
    PROCESS_RULES[6].name: ("app/ingest/loading.py", "from app.api.common import settings\n"),
    PROCESS_RULES[7].name: ("app/serving/rank.py", "from neo4j import Driver\n"),
}


@pytest.mark.parametrize("rule", PROCESS_RULES, ids=lambda r: r.name)
def test_process_folders_keep_their_imports(rule: Rule) -> None:
    assert rule.files and all(list(REPO_ROOT.glob(p)) for p in rule.files), rule.files
    bad = rule.violations(REPO_ROOT)
    assert not bad, f"{rule.name}:\n" + "\n".join(bad)


@pytest.mark.parametrize("rule", PROCESS_RULES, ids=lambda r: r.name)
def test_each_rule_catches_a_planted_violation(rule: Rule, tmp_path: Path) -> None:
    rel, source = PLANTED[rule.name]
    clean = tmp_path / "app" / "serving" / "clean.py"
    clean.parent.mkdir(parents=True)
    clean.write_text("import numpy as np\n")
    assert rule.violations(tmp_path) == [], "a clean tree must pass"
    planted = tmp_path / rel
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text(source)
    assert [v.split(":")[0] for v in rule.violations(tmp_path)] == [rel]


def test_serving_loads_neither_flask_nor_torch() -> None:
    """Importing every serving module (and what they import in turn) loads no Flask, no torch."""
    modules = sorted(
        ".".join(p.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (REPO_ROOT / "app" / "serving").rglob("*.py")
    )
    code = (
        f"import importlib, sys; [importlib.import_module(m) for m in {modules!r}]; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'flask', 'torch', "
        "'torch_geometric', 'werkzeug'}); assert not bad, bad"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )
    assert done.returncode == 0, f"app/serving loaded Flask or torch:\n{done.stderr}"


def _string_extension_keys(path: Path, root: Path) -> Iterator[str]:
    """``app.extensions["..."]`` (a literal key): process state hidden under a loose string."""
    rel = path.relative_to(root).as_posix()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "extensions"
            and isinstance(node.slice, ast.Constant)
        ):
            yield f"{rel}:{node.lineno}: extensions[{node.slice.value!r}]"


def test_app_state_lives_under_named_keys(tmp_path: Path) -> None:
    """Flask extensions are reached through typed accessors keyed by a module constant."""
    bad = [hit for f in _files("app/**/*.py") for hit in _string_extension_keys(f, REPO_ROOT)]
    assert not bad, "string keys into app.extensions:\n" + "\n".join(bad)
    planted = tmp_path / "app" / "api" / "users.py"
    planted.parent.mkdir(parents=True)
    planted.write_text("def f(app):\n    return app.extensions['lists']\n")
    assert [h.split(":")[0] for h in _string_extension_keys(planted, tmp_path)] == [
        "app/api/users.py"
    ]
