"""Key-phrase tags for items: *what* an item is about, from its own text and its reviews.

Two maintained libraries do the language work; this module only decides what a tag may be:

1. **Candidates are noun phrases.** Each text is part-of-speech tagged by TextBlob's pattern
   tagger (a Brill-style lexicon and rules shipped inside the package: no download, no model
   host). A candidate is a run of plain adjectives and nouns that ends in a noun, cut at
   punctuation and at stop words (``ml.phrases``: YAKE's English list plus review vocabulary
   such as "great", "works", "scratches"), so verbs ("include", "described"), bare adjectives
   ("single physical") and opinions never become tags. Opinion adjectives also end a run:
   those TextBlob's sentiment lexicon rates ``max_subjectivity`` or more ("famous",
   "legendary", "comfortable"), and every comparative and superlative ("finest", "larger"):
   claims, not descriptions. A run longer than ``max_words`` keeps its last ``max_words``
   words, the head of an English noun phrase.
2. **Not "where".** The words of the item's category path and brand end runs like stop words
   do: those are already ``Category`` and ``Brand`` nodes, so "Amazon gift card in a birthday
   card" on an Amazon gift card gives just "birthday".
3. **Evidence.** A phrase only reviews use must come from at least ``min_reviews`` reviews:
   one person's wording is not the item. A one-word phrase must be named (alone or inside a
   longer phrase: "leather case" names "leather") by ``min_word_documents`` of the item's
   texts: a lone word said once is mostly a passing word ("pride", "dose") or a cut-off name.
4. **Rank.** YAKE (Campos et al., 2020) scores every candidate over the item's texts joined
   title first (its features: casing, position, frequency, spread over sentences, and how
   many different words surround a word); lower is better.
5. **Not what every item says.** A phrase more than ``max_item_share`` of the catalogue's
   items have among their candidates (``PhraseCounts``, from ``count_phrases``: a document
   frequency, as IDF weighs words) names no one item ("design" and "box" on the Amazon cards,
   "christmas" in reviews); below ``min_catalog_items`` items there is no frequency yet. The
   ``top_n`` best of the rest are kept. YAKE's scores only order phrases (their scale shifts
   with a phrase's length and the text's), so the weight is by rank: the k-th best tag weighs
   1/k, the top one 1.0, down to ``min_weight``; ties by name.

An item's candidates depend on nothing but that item's texts; its tags also on the catalogue's
counts, which the worker keeps in the graph (``graphdb.tags``: ``MENTIONS`` edges), so
re-tagging one item never changes another's tags, and tagging twice gives the same answer.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import yake
from textblob.en import sentiment as pattern_sentiment
from textblob.en.taggers import PatternTagger

from ml.phrases import WORD, content_runs, normal_word, phrase_of, singular, stop_words

NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})
# Words that may stand before the head noun: plain adjectives. Comparatives and superlatives
# ("better", "freshest", "finest") are claims, not descriptions; -ing forms are mostly verbs
# here ("serving gourmet burgers", "including Regal").
MODIFIER_TAGS = frozenset({"JJ"}) | NOUN_TAGS
TITLE_CASE_SHARE = 0.6  # this share of capitalised words makes a text Title Case
EXTRACTOR_VERSION = "yake-0.7.3+textblob-0.20.1-pattern-np/2"  # labels in bench/ name this


@dataclass(frozen=True)
class TagConfig:
    """How many tags an item keeps, how long a tag may be, what reviews must agree on, and
    how common in the catalogue and how opinionated a phrase may be."""

    top_n: int = 4
    min_weight: float = 0.1
    max_words: int = 3
    min_reviews: int = 2
    min_word_documents: int = 2  # a one-word tag is in this many of the item's texts
    max_item_share: float = 0.1  # a phrase on more items than this share says nothing of one
    min_catalog_items: int = 20  # below this many items a share is not yet a frequency
    max_subjectivity: float = 0.5  # a word TextBlob rates this subjective or more is opinion

    def __post_init__(self) -> None:
        counts = ("top_n", "max_words", "min_reviews", "min_word_documents", "min_catalog_items")
        for name in counts:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("min_weight", "max_item_share", "max_subjectivity"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")


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


@dataclass(frozen=True)
class PhraseCounts:
    """How many of a catalogue's items have each phrase among their candidates."""

    items: int
    counts: Mapping[str, int]

    def too_common(self, phrase: str, config: TagConfig) -> bool:
        """Whether ``phrase`` is on more than ``max_item_share`` of a large enough catalogue."""
        if self.items < config.min_catalog_items:
            return False
        return self.counts.get(phrase, 0) > config.max_item_share * self.items


@dataclass(frozen=True)
class Candidate:
    """A phrase of an item: its YAKE score, source, and how many of the item's texts name it
    (a one-word phrase: name that word, alone or in a longer phrase)."""

    phrase: str
    score: float
    source: str
    documents: int


@dataclass(frozen=True)
class Candidates:
    """An item's candidate tags with enough evidence, best YAKE score first."""

    item_id: str
    ranked: tuple[Candidate, ...] = ()

    @property
    def phrases(self) -> frozenset[str]:
        """The candidate phrases, the ones the catalogue's counts are made of."""
        return frozenset(c.phrase for c in self.ranked)


@lru_cache(maxsize=1)
def _tagger() -> PatternTagger:
    return PatternTagger()


def subjectivity(adjective: str) -> float:
    """TextBlob's (pattern's) subjectivity of an adjective in [0, 1]; 0.0 where it has none.

    Only the adjective sense counts: the lexicon rates "chicken" (coward) 0.95 as one.
    """
    entry = pattern_sentiment.get(adjective) or {}
    return float(entry["JJ"][1]) if "JJ" in entry else 0.0


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
    text: str,
    max_words: int = 3,
    also_stop: frozenset[str] = frozenset(),
    max_subjectivity: float = TagConfig.max_subjectivity,
) -> list[str]:
    """The candidate tags of one text, in order (see the module docstring, step 1)."""
    phrases: list[str] = []
    run: list[tuple[str, bool]] = []  # (normal word, is a noun)
    for token, pos in [*_tagger().tag(for_tagging(text)), ("", "")]:
        word = normal_word(token) if pos in MODIFIER_TAGS else None
        usable = (
            word is not None
            and not {word, singular(word)} & also_stop
            # An opinion is not a description: "famous", "legendary", "comfortable".
            and (pos in NOUN_TAGS or subjectivity(str(word)) < max_subjectivity)
        )
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
    documents: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    sources: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, phrases: list[str], source: str) -> None:
        for phrase in set(phrases):  # each document counts once
            self.sources[phrase].add(source)
            self.reviews[phrase] += source == "review"
        # A word's documents are those naming it alone or in a phrase ("leather case" counts
        # for "leather"); a longer phrase's, those naming it.
        words = {singular(w) for phrase in phrases for w in phrase.split()}
        for name in words | {phrase for phrase in phrases if " " in phrase}:
            self.documents[name] += 1

    def enough(self, phrase: str, config: TagConfig, reviews: int) -> bool:
        """Review-only phrases need ``min_reviews`` reviews (or all, when fewer)."""
        needed = min(config.min_reviews, reviews)
        return "text" in self.sources[phrase] or self.reviews[phrase] >= needed


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


def candidates(item: TaggableItem, config: TagConfig | None = None) -> Candidates:
    """The item's phrases with enough evidence, ranked by YAKE (module docstring, steps 1-4)."""
    config = config or TagConfig()
    where = _where_words(item.known_names)
    documents = list(_documents(item))
    evidence = _Evidence()
    for text, source in documents:
        phrases = noun_phrases(text, config.max_words, where, config.max_subjectivity)
        evidence.add(phrases, source)
    kept = {p for p in evidence.sources if evidence.enough(p, config, len(item.reviews))}
    if not kept:
        return Candidates(item.item_id)
    # Sentences end at a document's end, so no n-gram spans the title and the description.
    joined = " .\n".join(text.strip().rstrip(".") for text, _ in documents)
    scored = yake_scores(joined, config.max_words, where)
    scores = {phrase: scored[phrase] for phrase in kept if scored.get(phrase, 0.0) > 0.0}
    ranked = sorted(scores, key=lambda phrase: (scores[phrase], phrase))
    return Candidates(
        item.item_id,
        tuple(
            Candidate(p, scores[p], "+".join(sorted(evidence.sources[p])), evidence.documents[p])
            for p in ranked
        ),
    )


def count_phrases(catalogue: Iterable[Candidates]) -> PhraseCounts:
    """The catalogue's phrase counts (each item counts a phrase once) from its candidates."""
    counts: Counter[str] = Counter()
    items = 0
    for item in catalogue:
        counts.update(item.phrases)
        items += 1
    return PhraseCounts(items, counts)


def select_tags(
    found: Candidates, config: TagConfig | None = None, catalogue: PhraseCounts | None = None
) -> list[ItemTag]:
    """The ``top_n`` best candidates the catalogue does not share too widely (step 5)."""
    config = config or TagConfig()
    own = [
        c
        for c in found.ranked
        if (" " in c.phrase or c.documents >= config.min_word_documents)
        and (catalogue is None or not catalogue.too_common(c.phrase, config))
    ][: config.top_n]
    return [
        ItemTag(c.phrase, 1.0 / rank, c.source)
        for rank, c in enumerate(own, start=1)
        if 1.0 / rank >= config.min_weight
    ]


def extract_tags(
    item: TaggableItem, config: TagConfig | None = None, catalogue: PhraseCounts | None = None
) -> list[ItemTag]:
    """The item's top tags, best first (see the module docstring for the rules)."""
    return select_tags(candidates(item, config), config, catalogue)
