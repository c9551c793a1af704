"""The exported short-term model survives a save/load round trip bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ml.sequence import SequenceConfig, build_sequence_model, export_short_term
from ml.shortterm import short_term_scores
from ml.shortterm_store import load_short_term, save_short_term


def test_round_trip_keeps_every_array_and_the_scores(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = SequenceConfig(max_len=8, dim=16, num_blocks=2)
    params = export_short_term(build_sequence_model(config, 30, torch.device("cpu")).eval())
    path = tmp_path / "shortterm.npz"

    save_short_term(params, path)
    loaded = load_short_term(path)

    assert len(loaded.blocks) == 2 and loaded.max_len == 8 and loaded.n_items == 30
    assert np.array_equal(loaded.item_embedding, params.item_embedding)
    assert np.array_equal(loaded.blocks[1].ffn_out_weight, params.blocks[1].ffn_out_weight)
    history = np.array([3, 7, 1, 29])
    assert np.array_equal(short_term_scores(loaded, history), short_term_scores(params, history))
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
