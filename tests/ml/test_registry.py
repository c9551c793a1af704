"""Model registry: versions on disk, round trip, the active note (the gate is ml.gate)."""

from __future__ import annotations

import json

import torch

from ml.registry import ModelRegistry, ModelShape
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


def test_the_active_note_follows_what_it_is_told(tmp_path):
    """``ACTIVE`` is a note written after the graph switched; nothing reads it to decide."""
    registry = ModelRegistry(tmp_path)
    assert registry.active() is None
    first, second = _save(registry, 0.20), _save(registry, 0.10, seed=1)
    registry.note_active(first)
    assert registry.active() == first
    registry.note_active(second)
    assert registry.active() == second
    assert registry.versions() == [first, second]
    assert json.loads((tmp_path / "versions" / second / "metrics.json").read_text()) == {
        "recall@20": 0.10
    }
