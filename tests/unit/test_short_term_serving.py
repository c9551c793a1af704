"""The API's short-term blend gives the scores the offline blend defines, item for item."""

from __future__ import annotations

import numpy as np
import torch

from app.serving.item_index import ItemIndex
from app.serving.short_term import ShortTermModel
from graphdb.reads import ItemVectorRow
from ml.models.sequence import SequenceRecommender
from ml.sequence import export_short_term
from ml.shortterm import blend_scores, short_term_scores


def _index(ids: list[str], seed: int, prior: list[float] | None = None) -> ItemIndex:
    rows = np.random.default_rng(seed).normal(size=(len(ids), 8))
    priors = prior if prior is not None else [0.0] * len(ids)
    return ItemIndex.from_rows(
        "v1",
        [ItemVectorRow(item_id=i, title=None, embedding=list(r), prior=p)
         for i, r, p in zip(ids, rows, priors, strict=True)],
    )  # fmt: skip


def test_blended_scores_match_offline_blend_with_unknown_items_average() -> None:
    torch.manual_seed(0)
    params = export_short_term(SequenceRecommender(12, max_len=5, dim=8).eval())
    model = ShortTermModel(params, [f"m{k}" for k in range(12)])
    # The index holds most model items (in another order) and two items newer than the model.
    ids = [f"m{k}" for k in (5, 0, 3, 11, 7, 1, 2, 9)] + ["new-a", "new-b"]
    index = _index(ids, seed=1)
    user = index.unit[[0, 2]].mean(axis=0)
    history = ["m3", "new-a", "m7", "m1"]  # newest first; the unknown item is skipped

    got = model.blended_scores(index, user, history, 0.4)

    by_row = short_term_scores(params, np.array([1, 7, 3]))  # oldest first
    short = np.array([by_row[int(i[1:])] if i.startswith("m") else by_row.mean() for i in ids])
    expected = blend_scores(index.unit @ user, short.astype(np.float32), 0.4)
    assert got is not None
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_history_unknown_to_the_model_gives_no_short_term_opinion() -> None:
    params = export_short_term(SequenceRecommender(4, max_len=3, dim=8).eval())
    model = ShortTermModel(params, ["a", "b", "c", "d"])
    index = _index(["a", "b", "x"], seed=2)
    assert model.blended_scores(index, index.unit[0], ["x", "y"], 0.5) is None
    assert model.tables_for(index) is model.tables_for(index)  # built once per generation


def test_the_popularity_prior_joins_long_term_scores_before_the_blend() -> None:
    torch.manual_seed(0)
    params = export_short_term(SequenceRecommender(6, max_len=5, dim=8).eval())
    model = ShortTermModel(params, [f"m{k}" for k in range(6)])
    ids = [f"m{k}" for k in range(6)]
    prior = [0.0, 0.3, 0.05, 0.2, 0.0, 0.1]
    index = _index(ids, seed=3, prior=prior)
    user = index.unit[1]
    long_term = index.unit @ user + np.asarray(prior, dtype=np.float32)
    np.testing.assert_allclose(index.long_scores(user), long_term, atol=1e-6)

    got = model.blended_scores(index, user, ["m2", "m4"], 0.3)

    short = short_term_scores(params, np.array([4, 2]))
    expected = blend_scores(long_term.astype(np.float32), short.astype(np.float32), 0.3)
    assert got is not None
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_an_index_without_a_prior_scores_by_cosine_alone() -> None:
    index = _index(["a", "b", "c"], seed=4)
    assert not index.has_prior
    assert index.long_table() is index.unit
    np.testing.assert_array_equal(index.long_scores(index.unit[0]), index.unit @ index.unit[0])
