"""Model registry: versions on disk, round trip, promotion guarded against regressions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import torch

from ml.registry import ModelRegistry, ModelShape, Promotion
from ml.train import TrainConfig, build_model

CPU = torch.device("cpu")
SHAPE = ModelShape(n_users=5, n_items=7, n_features=0)


def _save(registry: ModelRegistry, recall: float, seed: int = 0) -> str:
    config = TrainConfig(model="lightgcn", dim=4, seed=seed)
    torch.manual_seed(seed)
    model = build_model(config, SHAPE.n_users, SHAPE.n_items, SHAPE.n_features, CPU)
    return registry.save(model, config, SHAPE, {"recall@20": recall}, fingerprint=f"fp{seed}")


def test_save_and_load_round_trip(tmp_path):
    registry = ModelRegistry(tmp_path)
    version = _save(registry, 0.1, seed=3)
    assert registry.versions() == [version]
    files = sorted(p.name for p in (tmp_path / "versions" / version).iterdir())
    assert files == ["config.json", "meta.json", "metrics.json", "weights.pt"]
    assert registry.metadata(version)["fingerprint"] == "fp3"
    config, shape = registry.config(version)
    assert config.dim == 4 and config.seed == 3 and shape == SHAPE
    loaded = registry.load(version, CPU)
    torch.manual_seed(3)
    fresh = build_model(config, SHAPE.n_users, SHAPE.n_items, 0, CPU)
    for a, b in zip(loaded.state_dict().values(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert not any(p.name.startswith(".") for p in (tmp_path / "versions").iterdir())


@dataclass
class Deployed:
    """Stands for the graph's active-version pointer in these file-only tests."""

    version: str | None = None


def _promote(
    registry: ModelRegistry, deployed: Deployed, version: str, **options: Any
) -> Promotion:
    """What the training pipeline does: judge against the graph's active version, switch the
    graph, then note the new version in the folder."""
    decision = registry.judge(version, deployed.version, **options)
    if decision.promoted:
        deployed.version = version
        registry.note_active(version)
    return decision


def test_promote_refuses_regression_unless_forced(tmp_path):
    registry, deployed = ModelRegistry(tmp_path), Deployed()
    assert registry.active() is None
    first = _save(registry, 0.20)
    assert _promote(registry, deployed, first).promoted
    assert registry.active() == first
    worse = _save(registry, 0.15)
    decision = _promote(registry, deployed, worse)
    assert not decision.promoted and "regressed" in decision.reason
    assert registry.active() == first
    assert _promote(registry, deployed, worse, force=True).promoted
    assert registry.active() == worse
    better = _save(registry, 0.25)
    assert _promote(registry, deployed, better).promoted and registry.active() == better
    assert registry.versions() == [first, worse, better]
    assert json.loads((tmp_path / "versions" / better / "metrics.json").read_text()) == {
        "recall@20": 0.25
    }


def test_tolerance_allows_small_drop(tmp_path):
    registry, deployed = ModelRegistry(tmp_path), Deployed()
    _promote(registry, deployed, _save(registry, 0.20))
    slightly_worse = _save(registry, 0.199)
    assert _promote(registry, deployed, slightly_worse, tolerance=0.005).promoted


def test_the_graph_decides_which_version_is_active(tmp_path):
    """The folder's note is never read to decide: a stale note does not shield a version."""
    registry = ModelRegistry(tmp_path)
    strong, weak = _save(registry, 0.30), _save(registry, 0.10)
    registry.note_active(strong)  # a stale note; the graph serves `weak`
    assert registry.judge(_save(registry, 0.20), active=weak).promoted
    assert not registry.judge(_save(registry, 0.20), active=strong).promoted
    assert registry.judge(weak, active="v09999-not-in-this-folder").promoted
