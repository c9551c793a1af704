"""Words and phrases as tags use them: stop words, the singular, and the one normal form.

A tag is lower-case words joined by one space, the last one singular ("gift cards" ->
"gift card"); hyphenated words stay one word ("self-care"). The extractor (``ml.tags``) and
the matching of a review's own words against an item's tags (``ml.tag_interests``) both go
through this module, so a phrase a reviewer writes is found under the tag it would make.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import yake
from textblob.en.inflect import singularize

# Review vocabulary that evaluates or narrates rather than names an aspect: opinion adjectives,
# review verbs in their common forms, ratings and number words. A domain stop list, as RAKE and
# YAKE recommend beside the general one; it is what lets "screen" stand alone in "the screen
# scratches easily". Only the words YAKE's English (SMART) list lacks are here.
_OPINION_WORDS = """
good great nice fine awesome amazing excellent fantastic wonderful perfect perfectly super cool
lovely beautiful pretty cute happy glad pleased satisfied impressed bad worse worst poor
terrible horrible awful disappointing disappointed disappointment cheap expensive pricey fast
slow quick quickly easy easier hard difficult simple simply big small large huge tiny long
short high low real true full free extra wrong absolutely totally highly recommend recommended
recommends love loved loves loving likes hate hated hates enjoy enjoyed enjoys wanted needed
buy buying bought purchase purchased purchasing order ordered ordering received receive
receives arrived arrive arrives work works worked working broke break breaks broken stopped
stop stops died die dies scratch scratches scratched fit fits fitted looked feel feels felt
make makes made give gave giving thought knew put star stars rating rated review reviews
reviewed yeah wow ten hundred thousand million billion send sends sending find found finds
bring brought back unable handy convenient adorable fun funny sweet special unique favorite
favourite excited exciting helpful useless worth brings hope hoped hoping guess item items
product products stuff variety www http https delicious tasty yummy sophisticated authentic
sexy gorgeous stunning incredible terrific fabulous classy stylish trendy
"""
# Who a reviewer bought for and where a shop is: the reviewer's story or the chain's reach,
# not what the item is ("bought it for my grandson", "stores across America").
_PEOPLE_AND_PLACES = """
friend friends son sons daughter daughters grandson grandsons granddaughter granddaughters
mom mother dad father wife husband sister brother niece nephew aunt uncle grandma grandpa
boyfriend girlfriend coworker coworkers boss teacher teachers family families recipient
america usa nationwide state states country countries world weekend occasion occasions fee fees
"""
# Words of measure, vague nouns and catalog boilerplate ("configuration ASIN") the SMART list
# lacks: they name no aspect of an item.
_VAGUE_NOUNS = """
inside mine thing things till lot lots bit kind sort ways time times day days year years
person people idea ideas problem problems place places world choice option options reason
deal deals location locations visit asin configuration age ages
"""


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """YAKE's maintained English stop list, plus the review, vague and story words above."""
    general = yake.KeywordExtractor(lan="en").stopword_set
    return frozenset(general | set((_OPINION_WORDS + _VAGUE_NOUNS + _PEOPLE_AND_PLACES).split()))


MIN_WORD_LEN = 3
# A word: letters, digits or underscores, hyphens and apostrophes inside ("self-care", "kid's").
WORD = re.compile(r"\w+(?:[-'’]\w+)*")
# Punctuation other than a word's inner hyphen or apostrophe ends a phrase.
_BREAK = re.compile(r"[^\w\s'’-]+|_|(?<!\w)[-'’]|[-'’](?!\w)")
_NOT_SINGULAR = ("ss", "us", "is")  # glass, bus, famous, basis: no plural "s" to take off
_SAME_IN_SINGULAR = frozenset(
    {"christmas", "news", "series", "species", "canvas", "lens", "gas", "atlas", "its"}
)


def singular(word: str) -> str:
    """The singular of a (lower-case) noun: ``batteries`` -> ``battery``, ``movies`` -> ``movie``.

    TextBlob's inflection rules (irregulars included) do the work; words it would wrongly clip
    because they only end in "s" ("glass", "christmas") are kept as they are.
    """
    if len(word) <= MIN_WORD_LEN or word.endswith(_NOT_SINGULAR) or word in _SAME_IN_SINGULAR:
        return word
    if "-" in word:  # "gift-cards": the last part carries the number
        head, _, last = word.rpartition("-")
        return f"{head}-{singular(last)}"
    return str(singularize(word))


def normal_word(raw: str) -> str | None:
    """A content word in its normal form, or ``None`` for one that cannot be part of a tag."""
    token = raw.lower().strip("'’-").replace("’", "'")
    if token in stop_words():
        return None
    if token.endswith("'s"):  # possessive: "the card's design" names the card
        token = token[:-2]
    letters = token.replace("-", "").replace("'", "")
    if len(token) < MIN_WORD_LEN or not letters.isalpha() or token.endswith("ly"):
        return None
    return None if token in stop_words() else token


def content_runs(text: str) -> list[list[str]]:
    """Maximal runs of content words; stop words, punctuation and junk tokens end a run."""
    runs: list[list[str]] = []
    for fragment in _BREAK.split(text):
        run: list[str] = []
        for raw in WORD.findall(fragment):
            token = normal_word(raw)
            if token is not None:
                run.append(token)
                continue
            if run:
                runs.append(run)
            run = []
        if run:
            runs.append(run)
    return runs


def phrase_of(words: Sequence[str]) -> str:
    """The normal form of a phrase: its words joined by one space, the last one singular."""
    return " ".join([*words[:-1], singular(words[-1])])


def mentioned_phrases(text: str | None, max_words: int = 3) -> set[str]:
    """Every phrase of 1..``max_words`` content words the text contains (for matching tags).

    Wider than the extractor's candidates: "the phone screen cracked" mentions "screen" as
    well as "phone screen", so a reviewer's words match an item tag however they framed it.
    """
    found: set[str] = set()
    for run in content_runs(text or ""):
        for size in range(1, min(max_words, len(run)) + 1):
            found.update(phrase_of(run[k : k + size]) for k in range(len(run) - size + 1))
    return found
