"""Key-phrase tags for items: *what* an item is about, from its own text and its reviews.

Two maintained libraries do the language work; this module only decides what a tag may be:

1. **Candidates are noun phrases.** Each text is part-of-speech tagged by TextBlob's pattern
   tagger (a Brill-style lexicon and rules shipped inside the package: no download, no model
   host). A candidate is a run of adjectives, nouns and -ing modifiers that ends in a noun, cut at
   punctuation and at stop words (``ml.phrases``: YAKE's English list plus review vocabulary
   such as "great", "works", "scratches"), so verbs ("include", "described"), bare adjectives
   ("single physical") and opinions never become tags. A run longer than ``max_words`` keeps
   its last ``max_words`` words, the head of an English noun phrase.
2. **Not "where".** The words of the item's category path and brand end runs like stop words
   do: those are already ``Category`` and ``Brand`` nodes, so "Amazon gift card in a birthday
   card" on an Amazon gift card gives just "birthday".
3. **Evidence.** A phrase only reviews use must come from at least ``min_reviews`` reviews:
   one person's wording is not the item.
4. **Rank.** YAKE (Campos et al., 2020) scores every candidate over the item's texts joined
   title first (its features: casing, position, frequency, spread over sentences, and how
   many different words surround a word); lower is better. YAKE's scores only order phrases
   (their scale shifts with a phrase's length and the text's), so the weight is by rank: the
   k-th best tag weighs 1/k, the top one 1.0; the ``top_n`` best with weight >=
   ``min_weight`` are kept, ties by name.

An item's tags depend on nothing but that item's texts, so re-tagging one item never changes
another's tags, and tagging twice gives the same answer.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import yake
from textblob.en.taggers import PatternTagger

from ml.phrases import WORD, content_runs, normal_word, phrase_of, singular, stop_words

NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})
# Words that may stand before the head noun: adjectives (-ing forms are mostly verbs here:
# "serving gourmet burgers", "including Regal").
MODIFIER_TAGS = frozenset({"JJ", "JJR", "JJS"}) | NOUN_TAGS
TITLE_CASE_SHARE = 0.6  # this share of capitalised words makes a text Title Case
EXTRACTOR_VERSION = "yake-0.7.3+textblob-0.20.1-pattern-np/1"  # labels in bench/ name this


@dataclass(frozen=True)
class TagConfig:
    """How many tags an item keeps, how long a tag may be, and what reviews must agree on."""

    top_n: int = 8
    min_weight: float = 0.1
    max_words: int = 3
    min_reviews: int = 2

    def __post_init__(self) -> None:
        if self.top_n < 1 or self.max_words < 1 or self.min_reviews < 1:
            raise ValueError("top_n, max_words and min_reviews must be at least 1")
        if not 0.0 <= self.min_weight <= 1.0:
            raise ValueError("min_weight must be within [0, 1]")


@dataclass(frozen=True)
class TaggableItem:
    """An item's texts: catalog title and description, review texts, and its "where" names."""

    item_id: str
    title: str | None = None
    description: str | None = None
    reviews: tuple[str, ...] = ()
    known_names: tuple[str, ...] = ()  # category path segments and brand name


@dataclass(frozen=True)
class ItemTag:
    """One tag of one item: ``weight`` in (0, 1]; ``source`` is text, review or review+text."""

    tag_id: str
    weight: float
    source: str


@lru_cache(maxsize=1)
def _tagger() -> PatternTagger:
    return PatternTagger()


_SENTENCE_START = re.compile(r"(^|[.!?:;\n]\s*)([A-Z])(?=[a-z])")


def for_tagging(text: str) -> str:
    """The text as the tagger reads it best: lower-case where capitals say nothing.

    The tagger takes a capitalised word it does not know for a proper noun, so a Title Case
    title ("Classic Black Card Design") or a sentence's first word ("Redeemable at ...") would
    pass as nouns. Title Case text is lower-cased whole; elsewhere only sentences' first letters.
    """
    words = WORD.findall(text)
    capitalised = sum(word[:1].isupper() for word in words)
    if words and capitalised >= TITLE_CASE_SHARE * len(words):
        return text.lower()
    return _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).lower(), text)


def _head_of(run: list[tuple[str, bool]], max_words: int) -> str | None:
    """The run up to its last noun, at most ``max_words`` words; ``None`` without a noun."""
    while run and not run[-1][1]:
        run = run[:-1]
    return phrase_of([word for word, _ in run[-max_words:]]) if run else None


def noun_phrases(
    text: str, max_words: int = 3, also_stop: frozenset[str] = frozenset()
) -> list[str]:
    """The candidate tags of one text, in order (see the module docstring, step 1)."""
    phrases: list[str] = []
    run: list[tuple[str, bool]] = []  # (normal word, is a noun)
    for token, pos in [*_tagger().tag(for_tagging(text)), ("", "")]:
        word = normal_word(token) if pos in MODIFIER_TAGS else None
        usable = word is not None and not {word, singular(word)} & also_stop
        # Once a noun has come, only nouns go on: "theaters including Regal" is two phrases.
        if usable and (pos in NOUN_TAGS or not run or not run[-1][1]):
            run.append((str(word), pos in NOUN_TAGS))
            continue
        phrase = _head_of(run, max_words)
        if phrase is not None:
            phrases.append(phrase)
        run = [(str(word), False)] if usable else []
    return phrases


def _where_words(names: Iterable[str]) -> frozenset[str]:
    words: set[str] = set()
    for name in names:
        for run in content_runs(name):
            words.update(run)
            words.update(singular(w) for w in run)
    return frozenset(words)


def _documents(item: TaggableItem) -> Iterator[tuple[str, str]]:
    for text, source in ((item.title, "text"), (item.description, "text")):
        if text and text.strip():
            yield text, source
    yield from ((review, "review") for review in item.reviews if review.strip())


@dataclass
class _Evidence:
    """Which of an item's documents name each candidate phrase."""

    reviews: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    sources: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, phrases: list[str], source: str) -> None:
        for phrase in set(phrases):  # each document counts once
            self.sources[phrase].add(source)
            self.reviews[phrase] += source == "review"


def yake_scores(text: str, max_words: int, also_stop: frozenset[str]) -> dict[str, float]:
    """YAKE's score (lower is better) of every n-gram of ``text``, by normal form."""
    extractor = yake.KeywordExtractor(
        lan="en", n=max_words, dedup_lim=1.0, top=1_000_000, stopwords=set(stop_words() | also_stop)
    )
    scores: dict[str, float] = {}
    for keyword, score in extractor.extract_keywords(text):
        runs = content_runs(keyword)
        if len(runs) == 1 and len(runs[0]) == len(keyword.split()):
            phrase = phrase_of(runs[0])  # "gift cards" and "gift card" are one tag
            scores[phrase] = min(float(score), scores.get(phrase, float("inf")))
    return scores


def extract_tags(item: TaggableItem, config: TagConfig | None = None) -> list[ItemTag]:
    """The item's top tags, best first (see the module docstring for the rules)."""
    config = config or TagConfig()
    where = _where_words(item.known_names)
    documents = list(_documents(item))
    evidence = _Evidence()
    for text, source in documents:
        evidence.add(noun_phrases(text, config.max_words, also_stop=where), source)
    needed = min(config.min_reviews, len(item.reviews))
    kept = {
        phrase
        for phrase, sources in evidence.sources.items()
        if "text" in sources or evidence.reviews[phrase] >= needed
    }
    if not kept:
        return []
    # Sentences end at a document's end, so no n-gram spans the title and the description.
    joined = " .\n".join(text.strip().rstrip(".") for text, _ in documents)
    scored = yake_scores(joined, config.max_words, where)
    scores = {phrase: scored[phrase] for phrase in kept if scored.get(phrase, 0.0) > 0.0}
    ranked = sorted(scores, key=lambda phrase: (scores[phrase], phrase))[: config.top_n]
    return [
        ItemTag(phrase, 1.0 / rank, "+".join(sorted(evidence.sources[phrase])))
        for rank, phrase in enumerate(ranked, start=1)
        if 1.0 / rank >= config.min_weight
    ]
