"""House dependency rules, read from the source with ``ast`` (nothing is imported to check).

* ``graphdb/`` is the storage layer: no web framework, no models, no upward imports.
* ``ml/`` trains on arrays: it must not reach into the database, the web layer or storage.
* Modules that serve HTTP must start without torch: a web worker should not pay seconds of
  import time and hundreds of MB for a library it only needs in offline jobs.
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
                "app/ingest/validation.py", "app/settings.py")  # fmt: skip
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


def _package_of(path: Path) -> list[str]:
    # a/b/c.py and a/b/__init__.py both live in package a.b
    return list(path.relative_to(REPO_ROOT).parts[:-1])


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


def imports_of(path: Path) -> Iterator[Import]:
    rel = path.relative_to(REPO_ROOT).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    for node, top_level in _walk(tree, True):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(rel, node.lineno, alias.name, (), top_level)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: level 1 is this file's package, 2 its parent, ...
                package = _package_of(path)
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
SERVING_ML_MODULES = {"ml", "ml.blend", "ml.shortterm", "ml.shortterm_store", "ml.query_encoder"}


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
    lazy = [i for i in imports_of(REPO_ROOT / "app" / "__init__.py") if not i.top_level]
    assert any(i.module == "app.api" for i in lazy), "function-level imports must be seen too"
