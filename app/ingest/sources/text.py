"""Cleaning of scraped product text (Amazon metadata carries HTML, entities and CSS debris)."""

from __future__ import annotations

import html
import re

_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
# "$25.00", "$1,250.00", "25.5": one amount and nothing else. Ranges ("$10.00 - $20.00") and
# scraped page fragments deliberately do not match: a wrong price is worse than none.
_PRICE = re.compile(r"^\$?\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?$")

MAX_CATEGORY_SEGMENT_LEN = 60


def clean_text(raw: str | None) -> str | None:
    """Unescape entities (twice: some titles are double-escaped), drop tags, squeeze spaces."""
    if raw is None:
        return None
    text = html.unescape(html.unescape(raw))
    text = _TAG.sub(" ", text)
    text = _SPACES.sub(" ", text)
    text = _BLANK_LINES.sub("\n", text)
    text = "\n".join(line.strip() for line in text.split("\n")).strip()
    return text or None


def parse_price(raw: object) -> float | None:
    """``"$25.00"`` -> 25.0; numbers pass through; ranges, blanks and garbage -> None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw) if raw >= 0 else None
    if not isinstance(raw, str):
        return None
    match = _PRICE.match(raw.strip())
    if match is None:
        return None
    return float(match.group(1).replace(",", "") + (match.group(2) or ""))


def looks_like_category(segment: str) -> bool:
    """True for a short label such as "Gift Card Accessories".

    Amazon's 2018 ``category`` lists often continue with product bullet points ("No expiration,
    no fees.") or HTML debris ("</span></span>"); those are not categories.
    """
    if not segment or len(segment) > MAX_CATEGORY_SEGMENT_LEN:
        return False
    if "<" in segment or ">" in segment:
        return False
    return not segment.endswith((".", "!", "?")) and ". " not in segment


def clean_category_path(raw: list[object]) -> list[str]:
    """Keep the leading run of real category labels; collapse repeated neighbours.

    ``["Gift Cards", "Gift Cards"]`` becomes ``["Gift Cards"]``: the repetition is the
    department and its top shelf sharing a name, and a self-parent would be a cycle-like path.
    """
    path: list[str] = []
    for entry in raw:
        segment = clean_text(entry) if isinstance(entry, str) else None
        if segment is None or not looks_like_category(segment):
            break
        if not path or path[-1] != segment:
            path.append(segment)
    return path
