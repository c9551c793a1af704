"""A file-based model registry: versioned weights, config, data fingerprint and metrics.

Layout (plain files, every write is atomic: temp file or folder, then rename)::

    root/
      versions/<version>/weights.pt     torch.save(state_dict)
      versions/<version>/config.json    TrainConfig + model shape
      versions/<version>/metrics.json   validation (and optional test) metrics
      versions/<version>/meta.json      data fingerprint, creation time, writer, extra notes
      versions/<version>/outcome.json   written once the gate decided: promoted or kept
      versions/.staging@<writer>@<rnd>/ a version being saved (renamed into place when done)
      versions/.gone-<version>          a version removed after its training was killed
      ACTIVE                            a note: the version the graph last switched to

A training killed mid-way can leave a ``.staging@`` folder or a version without an outcome;
``app.training.recovery`` removes those whose writer's training lease has ended.

Which version is active is decided by the graph (``(:ModelVersion {active: true})``), never by
this folder: the promotion gate (``ml.gate``) scores the graph's active version, and ``ACTIVE``
is only written after the graph switched, for people looking at the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ml.data import InteractionGraph
from ml.train import EmbeddingModel, TrainConfig, build_model


@dataclass(frozen=True)
class ModelShape:
    """Sizes needed to rebuild a model before loading its weights."""

    n_users: int
    n_items: int
    n_features: int
    text_dim: int = 0  # versions saved before text features have none

    @classmethod
    def of(cls, graph: InteractionGraph) -> ModelShape:
        """The shape of a model trained on ``graph``."""
        return cls(graph.n_users, graph.n_items, graph.n_features, graph.text_dim)


STAGING_MARK = ".staging@"
REMOVING_PREFIX = ".removing-"
GONE_PREFIX = ".gone-"  # an empty file: a removed version's name, kept so it is not reused


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
    os.replace(tmp, path)


class ModelRegistry:
    """Versioned models in a folder, and the regression check a new version must pass.

    Args:
        root: Registry folder (created when missing).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.versions_dir = self.root / "versions"
        self.versions_dir.mkdir(parents=True, exist_ok=True)

    def versions(self) -> list[str]:
        """All saved versions, oldest first."""
        return sorted(p.name for p in self.versions_dir.iterdir() if not p.name.startswith("."))

    def save(
        self,
        model: EmbeddingModel,
        config: TrainConfig,
        shape: ModelShape,
        metrics: dict[str, float],
        fingerprint: str,
        extra: dict[str, Any] | None = None,
        writer: str | None = None,
    ) -> str:
        """Stores a new version (not yet active) and returns its id.

        ``writer`` names the process saving it (its training lease's holder), in the staging
        folder's name from the moment it exists and in ``meta.json``.
        """
        # Numbers of removed versions count too: a new version never reuses a dead one's.
        gone = [p.name[len(GONE_PREFIX) :] for p in self.versions_dir.glob(GONE_PREFIX + "*")]
        existing = sorted([*self.versions(), *gone])
        number = int(existing[-1].split("-")[0][1:]) + 1 if existing else 1
        version = f"v{number:05d}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        prefix = f"{STAGING_MARK}{writer.replace('/', '_')}@" if writer else ".staging-"
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=self.versions_dir))
        try:
            torch.save(model.state_dict(), staging / "weights.pt")
            _write_json_atomic(
                staging / "config.json", {"train": config.to_dict(), "shape": shape.__dict__}
            )
            _write_json_atomic(staging / "metrics.json", dict(metrics))
            meta = {"fingerprint": fingerprint, "created": time.time(), "extra": extra or {},
                    "writer": writer}  # fmt: skip
            _write_json_atomic(staging / "meta.json", meta)
            os.rename(staging, self.versions_dir / version)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return version

    def _read(self, version: str, name: str) -> dict[str, Any]:
        path = self.versions_dir / version / name
        if not path.exists():
            raise KeyError(f"unknown model version {version!r}")
        return json.loads(path.read_text())

    def metrics(self, version: str) -> dict[str, float]:
        """Metrics stored with ``version``."""
        return self._read(version, "metrics.json")

    def metadata(self, version: str) -> dict[str, Any]:
        """Fingerprint, creation time and notes of ``version``."""
        return self._read(version, "meta.json")

    def config(self, version: str) -> tuple[TrainConfig, ModelShape]:
        """Training config and model shape of ``version``."""
        raw = self._read(version, "config.json")
        return TrainConfig.from_dict(raw["train"]), ModelShape(**raw["shape"])

    def load(self, version: str, device: torch.device) -> EmbeddingModel:
        """Rebuilds the model of ``version`` on ``device`` in eval mode."""
        config, shape = self.config(version)
        model = build_model(
            config, shape.n_users, shape.n_items, shape.n_features, device, shape.text_dim
        )
        state = torch.load(
            self.versions_dir / version / "weights.pt", map_location=device, weights_only=True
        )
        model.load_state_dict(state)
        model.eval()
        return model

    def active(self) -> str | None:
        """The version last noted active (see :meth:`note_active`), or ``None``.

        Only a note for people looking at the folder: the graph says which version is active.
        """
        pointer = self.root / "ACTIVE"
        return pointer.read_text().strip() if pointer.exists() else None

    def note_active(self, version: str) -> None:
        """Note ``version`` as active, once the graph has switched to it."""
        pointer = self.root / "ACTIVE"
        tmp = pointer.with_name(f".ACTIVE.tmp{os.getpid()}")
        tmp.write_text(version + "\n")
        os.replace(tmp, pointer)

    def writer(self, version: str) -> str | None:
        """Who saved ``version`` (``None``: saved before writers were noted)."""
        writer = self.metadata(version).get("writer")
        return str(writer) if writer else None

    def note_outcome(self, version: str, outcome: str, reason: str) -> None:
        """Note what the gate decided for ``version`` (``promoted`` or ``kept``)."""
        _write_json_atomic(
            self.versions_dir / version / "outcome.json", {"outcome": outcome, "reason": reason}
        )

    def outcome(self, version: str) -> str | None:
        """What the gate decided for ``version``; ``None`` when its training never got there."""
        path = self.versions_dir / version / "outcome.json"
        return str(json.loads(path.read_text())["outcome"]) if path.exists() else None

    def staging_folders(self) -> dict[Path, str]:
        """Versions being saved (or left half saved), by the writer their name carries."""
        found = {}
        for path in self.versions_dir.glob(STAGING_MARK + "*@*"):
            found[path] = path.name[len(STAGING_MARK) :].rsplit("@", 1)[0]
        return found

    def remove(self, version: str) -> None:
        """Delete ``version``'s folder; it leaves :meth:`versions` at once (a rename), and an
        empty ``.gone-<version>`` file says it was there."""
        (self.versions_dir / f"{GONE_PREFIX}{version}").touch()
        self.discard_folder(self.versions_dir / version)

    def discard_folder(self, path: Path) -> None:
        """Delete a folder under ``versions/``, first renamed out of sight."""
        doomed = path.with_name(f"{REMOVING_PREFIX}{path.name}.{os.getpid()}")
        try:
            os.rename(path, doomed)
        except FileNotFoundError:
            return  # another clean-up got there first
        shutil.rmtree(doomed, ignore_errors=True)

    def purge_removed(self) -> None:
        """Finish deletions a killed clean-up left renamed out of sight."""
        for path in self.versions_dir.glob(REMOVING_PREFIX + "*"):
            shutil.rmtree(path, ignore_errors=True)
