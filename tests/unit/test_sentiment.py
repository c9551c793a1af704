"""Review sentiment: the real scorer, its use at intake, and the fold rule (no server)."""

from __future__ import annotations

import math
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.ingest.validation import IntakeLimits, parse_events
from graphdb.fold import EventRow, FoldConfig, fold_interactions, fold_interests, merge_weight
from ml import sentiment
from ml.sentiment import score_text, score_texts

DAY = 86_400_000
REPO_ROOT = Path(__file__).resolve().parents[2]
NEGATIVE = "Terrible. The card did not work and customer service was useless. Awful experience."
POSITIVE = "Great gift, my daughter loved it. Fast delivery, highly recommend!"


def test_scorer_gives_negative_for_a_negative_review_and_positive_for_a_positive_one() -> None:
    assert score_text(NEGATIVE) < -0.5
    assert score_text(POSITIVE) > 0.5
    assert score_text("") == 0.0 and score_text("   ") == 0.0
    scores = score_texts([NEGATIVE, POSITIVE, "It is a card."])
    assert scores.shape == (3,) and scores.dtype == np.float64 and scores[0] < 0 < scores[1]
    assert all(-1.0 <= s <= 1.0 for s in scores)
    assert score_texts([]).shape == (0,)


@pytest.mark.parametrize(
    "complaint",
    [
        "the card had no balance when I tried to use it",
        "It never arrived.",
        "I was charged twice and nobody answers my emails.",
        "The battery died after two days.",
    ],
)
def test_complaints_without_sentiment_words_score_negative(complaint: str) -> None:
    # What the lexicon model (VADER) read as neutral: facts, no word of feeling.
    assert score_text(complaint) < 0


def test_the_score_is_deterministic_and_independent_of_the_batch() -> None:
    texts = [POSITIVE, NEGATIVE, "Arrived on time.", POSITIVE]
    first = score_texts(texts)
    assert first[0] == first[3] == score_text(POSITIVE)
    assert np.array_equal(first, score_texts(texts))
    assert np.array_equal(first[1:3], score_texts(texts[1:3]))


def test_long_text_is_scored_on_its_opening_in_bounded_time() -> None:
    score_text("warm-up")  # the model load is not what is timed
    long_text = NEGATIVE + " " + "The package arrived on Tuesday. " * 700
    assert len(long_text) > 20_000
    start = time.perf_counter()
    assert score_text(long_text) < 0
    assert time.perf_counter() - start < 5.0  # the encoder reads at most 128 word pieces
    assert -1.0 <= score_text("x" * 30_000) <= 1.0  # one endless "word": cut, still scored


def test_scorer_loads_and_runs_without_any_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sentiment model tried to open a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    sentiment._scorer.cache_clear()  # load the packaged weights again, with the network gone
    try:
        assert score_text(NEGATIVE) < 0
    finally:
        sentiment._scorer.cache_clear()


def test_scoring_does_not_import_torch() -> None:
    # Intake runs in the API process, which must stay torch-free (tests/test_layering.py).
    code = (
        "import sys; from ml.sentiment import score_text; "
        "assert score_text('It broke on the first day.') < 0; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_intake_scores_review_text_only() -> None:
    base = {"user_id": "u1", "item_id": "i1", "ts": "2024-05-01T12:00:00Z"}
    rows = parse_events(
        [
            {**base, "type": "review", "text": NEGATIVE},
            {**base, "type": "review", "value": 5, "text": POSITIVE},
            {**base, "type": "review"},
            {**base, "type": "purchase"},
        ],
        IntakeLimits(),
    )
    assert rows[0].sentiment is not None and rows[0].sentiment < 0
    assert rows[1].sentiment is not None and rows[1].sentiment > 0
    assert rows[2].sentiment is None and rows[3].sentiment is None


def test_review_without_stars_counts_by_its_sentiment() -> None:
    config = FoldConfig()
    assert config.contribution("review", None, -0.5) == pytest.approx(-3.0)
    assert config.contribution("review", None, 0.8) == pytest.approx(4.8)
    assert config.contribution("review", None, 0.0) == 0.0
    assert config.contribution("review", None, None) == 6.0  # no text: as before
    assert config.contribution("review", None, -7.0) == pytest.approx(-6.0)  # clamped


def test_stars_decide_when_a_review_has_them() -> None:
    config = FoldConfig()
    assert config.contribution("review", 1.0, 0.9) == pytest.approx(-6.0)
    assert config.contribution("review", 5.0, -0.9) == pytest.approx(6.0)
    assert config.contribution("purchase", None, -0.9) == 8.0  # only rated types read it


def test_negative_review_lowers_item_and_category_interest_below_a_purchase_alone() -> None:
    config = FoldConfig()
    bought = EventRow("p", "u", "i", "purchase", 0)
    review = EventRow("r", "u", "i", "review", DAY, text=NEGATIVE, sentiment=score_text(NEGATIVE))
    praise = EventRow("g", "u", "i", "review", DAY, text=POSITIVE, sentiment=score_text(POSITIVE))
    alone = fold_interactions([bought], config)[0]["weight"]
    decayed = alone * config.decay(DAY)  # the purchase alone, seen at the review's time
    panned = fold_interactions([bought, review], config)[0]
    liked = fold_interactions([bought, praise], config)[0]
    assert panned["weight"] < decayed < liked["weight"]
    assert panned["count_review"] == 1
    targets = {"i": ["gift-cards"]}
    [interest] = fold_interests([bought, review], targets, config)
    assert interest["weight"] < decayed


@pytest.mark.parametrize("seed", range(3))
def test_sentiment_fold_is_exact_in_any_order_and_batching(seed: int) -> None:
    rng = random.Random(seed)
    config = FoldConfig(half_life_days=7)
    events = [
        EventRow(f"e{k}", "u", "i", "review" if k % 2 else "purchase", rng.randrange(0, 60 * DAY),
                 sentiment=rng.uniform(-1, 1) if k % 2 else None)
        for k in range(30)
    ]  # fmt: skip
    newest = max(e.ts_ms for e in events)
    expected = sum(
        config.contribution(e.type, e.value, e.sentiment) * config.decay(newest - e.ts_ms)
        for e in events
    )
    for _ in range(4):
        rng.shuffle(events)
        cut = rng.randrange(1, len(events))
        weight, anchor = 0.0, 0
        for part in (events[:cut], events[cut:]):
            row = fold_interactions(part, config)[0]
            weight, anchor = merge_weight(weight, anchor, row["weight"], row["last_ms"], config)
        assert anchor == newest
        assert math.isclose(weight, expected, rel_tol=1e-12)
