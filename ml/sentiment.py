"""Review sentiment in [-1, 1] with VADER, a lexicon and rule model shipped inside its package.

The API scores review text at intake, so this module stays light: it imports only the model
package and numpy, never torch, and it reads nothing but the lexicon files installed with
``vaderSentiment`` (no download, no network at run time). VADER is deterministic, so the same
text always gets the same score, which keeps folds and re-imports reproducible.

The score is VADER's ``compound`` value: the summed valence of the words (with VADER's rules for
negation, intensifiers, "but", capitals and punctuation) squashed into [-1, 1]. Text with no
sentiment-bearing words scores 0. Only the first ``MAX_SCORED_CHARS`` characters are read: VADER's
time grows with the square of the length (a 20,000-character review takes over a second), and
the summary and opening carry the verdict (99.9% of Gift Cards reviews are shorter anyway).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

MODEL_NAME = "vaderSentiment 3.3.2 (compound score)"
MAX_SCORED_CHARS = 2000


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    """Loaded once per process (reads the ~7,500-entry lexicon from the installed package)."""
    return SentimentIntensityAnalyzer()


def score_text(text: str) -> float:
    """Sentiment of one text in [-1, 1]: negative below 0, positive above, 0 for none/empty."""
    if not text or not text.strip():
        return 0.0
    if len(text) > MAX_SCORED_CHARS:  # cut at a word boundary, so no word is half-read
        cut = text[: MAX_SCORED_CHARS + 1]
        text = cut[: cut.rfind(" ")] if " " in cut else cut[:MAX_SCORED_CHARS]
    compound = float(_analyzer().polarity_scores(text)["compound"])
    return min(1.0, max(-1.0, compound))


def score_texts(texts: Iterable[str]) -> np.ndarray:
    """Scores of many texts, in order, as a float64 array."""
    return np.fromiter((score_text(text) for text in texts), dtype=np.float64)
