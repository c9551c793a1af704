"""Key-phrase tags for items: *what* an item is about, from its own text and its reviews.

The extractor is unsupervised, deterministic and pure Python (no model, no download):

1. **Candidates** (RAKE-style). Text is lower-cased and cut at punctuation, at stop words, at
   opinion and review-verb words ("great", "love", "works", "scratches"), at adverbs ending in
   "-ly", and at any token with a digit or shorter than three letters. What is left are runs of
   content words, which in English are mostly noun phrases: "the battery life is great but the
   screen scratches easily" gives "battery life" and "screen". A run of up to ``max_words``
   words is one candidate; a longer run gives its ``max_words``-word windows.
2. **Normalisation.** The last word of a phrase is made singular by plain suffix rules
   ("gift cards" -> "gift card", "batteries" -> "battery"); words are joined by one space.
3. **Not "where".** For one item, the words of its category path and brand name end runs like
   stop words do: those are already ``Category`` and ``Brand`` nodes, so "Amazon gift card in
   a birthday card" on an Amazon gift card gives just "birthday".
4. **Score.** Each of the item's documents votes once per phrase it contains: the title with
   ``title_weight``, the description with ``description_weight``, each review with
   ``review_weight`` (so a phrase many reviewers use outranks one reviewer repeating it); a
   phrase no catalog text has must come from at least ``min_reviews`` reviews. The
   votes are multiplied by the RAKE quality of the phrase over the item's documents (the mean
   degree/frequency of its words, 1 for a lone word up to ``max_words``), which favours
   specific multi-word phrases. Weights are divided by the best score, so the top tag has
   weight 1.0; the ``top_n`` best with weight >= ``min_weight`` are kept, ties by name.

An item's tags depend on nothing but that item's texts, so re-tagging one item never changes
another's tags, and tagging twice gives the same answer.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Function words: articles, pronouns, auxiliaries, prepositions, conjunctions, quantifiers.
_FUNCTION_WORDS = """
a about above across after again against all almost along already also although always am
among an and another any anybody anyone anything anyway are aren't around as at away be
became because become been before behind being below beside besides between beyond both but
by can can't cannot could couldn't did didn't do does doesn't doing don't done down during
each either else enough etc even ever every everyone everything except few for from further
get gets getting got gotten had hadn't has hasn't have haven't having he he's her here hers
herself him himself his how however i i'm i've i'd i'll if in inside instead into is isn't it
it's its itself just least less let like likely many may maybe me might mine more most much
must my myself near neither never next no nobody none nor not nothing now of off often on
once one only onto or other others otherwise our ours ourselves out over own per perhaps
quite rather really same several shall she she's should shouldn't since so some somebody
someone something sometimes somewhat still such than that that's the their theirs them
themselves then there there's these they they're they've thing things this those though
through throughout thru thus till to together too toward towards under unless until up upon
us use used uses using very via was wasn't we we're we've well were weren't what what's
whatever when whenever where whereas wherever whether which while who whoever whole whom
whose why will with within without won't would wouldn't yet you you're you've your yours
yourself yourselves lot lots bit kind sort way ways time times day days year years
"""
# Review vocabulary that evaluates or narrates rather than names an aspect: opinion adjectives,
# review verbs in their common forms, ratings and number words. A domain stop list, as RAKE
# recommends; it is what lets "screen" stand alone in "the screen scratches easily".
_OPINION_WORDS = """
good better best great nice fine awesome amazing excellent fantastic wonderful perfect
perfectly super cool lovely beautiful pretty cute happy glad pleased satisfied impressed
bad worse worst poor terrible horrible awful disappointing disappointed disappointment
cheap expensive pricey fast slow quick quickly easy easier hard difficult simple simply
new old big small little large huge tiny long short high low real true sure different
whole full free extra own right wrong exactly definitely absolutely totally highly recommend
recommended recommends love loved loves loving like liked likes hate hated hates enjoy
enjoyed enjoys want wanted wants need needed needs buy buying bought purchase purchased
purchasing order ordered ordering received receive receives arrived arrive arrives came come
comes work works worked working broke break breaks broken stopped stop stops died die dies
scratch scratches scratched fit fits fitted look looks looked looking feel feels felt seem
seems seemed make makes made give gives gave given giving go goes went gone say says said
think thought know knew try tried trying keep kept take took taken put see saw seen
star stars rating rated review reviews reviewed thanks thank please ok okay yes yeah wow
zero two three four five six seven eight nine ten hundred thousand million billion
first second third
send sent sends sending find found finds bring brought back able unable available handy
convenient adorable fun funny sweet special unique favorite favourite excited exciting helpful
useful useless worth instead either anyway brings hope hoped hoping guess item items
product products stuff
various variety com www http https
"""
STOP_WORDS: frozenset[str] = frozenset((_FUNCTION_WORDS + _OPINION_WORDS).split())

MIN_WORD_LEN = 3
_FRAGMENT = re.compile(r"[^\w\s'’]+|_")
_NOT_SINGULAR = ("ss", "us", "is")  # glass, bus, famous, basis
_SAME_IN_SINGULAR = frozenset(
    {"christmas", "news", "series", "species", "canvas", "lens", "gas", "atlas"}
)


@dataclass(frozen=True)
class TagConfig:
    """How many tags an item keeps and how its documents vote."""

    top_n: int = 8
    min_weight: float = 0.1
    max_words: int = 3
    title_weight: float = 3.0
    description_weight: float = 1.0
    review_weight: float = 1.0
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
    """One tag of one item: ``weight`` in (0, 1]; ``source`` is text, review or text+review."""

    tag_id: str
    weight: float
    source: str


def singular(word: str) -> str:
    """Trivial English singular: ``batteries`` -> ``battery``, ``cards`` -> ``card``."""
    if len(word) <= MIN_WORD_LEN or word.endswith(_NOT_SINGULAR) or word in _SAME_IN_SINGULAR:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def _token(raw: str) -> str | None:
    """A content word, or ``None`` for anything that ends a run (stop word, number, junk)."""
    token = raw.strip("'’").replace("’", "'")
    if token in STOP_WORDS:
        return None
    if token.endswith("'s"):  # possessive: "the card's design" names the card
        token = token[:-2]
    if len(token) < MIN_WORD_LEN or not token.isalpha() or token.endswith("ly"):
        return None
    return None if token in STOP_WORDS else token


def content_runs(text: str, also_stop: frozenset[str] = frozenset()) -> list[list[str]]:
    """Maximal runs of content words; stop words, punctuation and junk tokens end a run.

    Words in ``also_stop`` (or whose singular is) end a run too.
    """
    runs: list[list[str]] = []
    for fragment in _FRAGMENT.split(text.lower()):
        run: list[str] = []
        for raw in fragment.split():
            token = _token(raw)
            if token is not None and not {token, singular(token)} & also_stop:
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


def candidate_phrases(
    text: str, max_words: int = 3, also_stop: frozenset[str] = frozenset()
) -> list[str]:
    """Candidate tags of one text, in order: each run, or its windows when it is longer."""
    phrases = []
    for run in content_runs(text, also_stop):
        if len(run) <= max_words:
            phrases.append(phrase_of(run))
        else:
            windows = range(len(run) - max_words + 1)
            phrases.extend(phrase_of(run[k : k + max_words]) for k in windows)
    return phrases


def mentioned_phrases(text: str | None, max_words: int = 3) -> set[str]:
    """Every phrase of 1..``max_words`` content words the text contains (for matching tags).

    Wider than ``candidate_phrases``: "the phone screen cracked" mentions "screen" as well as
    "phone screen", so a reviewer's words match an item tag however they framed it.
    """
    found: set[str] = set()
    for run in content_runs(text or ""):
        for size in range(1, min(max_words, len(run)) + 1):
            found.update(phrase_of(run[k : k + size]) for k in range(len(run) - size + 1))
    return found


def _where_words(names: Iterable[str]) -> frozenset[str]:
    words: set[str] = set()
    for name in names:
        for run in content_runs(name):
            words.update(run)
            words.update(singular(w) for w in run)
    return frozenset(words)


def _documents(item: TaggableItem, config: TagConfig) -> list[tuple[str, float, str]]:
    docs = [
        (item.title or "", config.title_weight, "text"),
        (item.description or "", config.description_weight, "text"),
    ]
    docs.extend((review, config.review_weight, "review") for review in item.reviews)
    return [doc for doc in docs if doc[0].strip()]


@dataclass
class _Evidence:
    """Votes, sources and RAKE word statistics gathered over one item's documents."""

    votes: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    reviews: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    sources: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    degree: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    frequency: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, phrases: list[str], weight: float, source: str) -> None:
        for phrase in phrases:  # RAKE word statistics count every occurrence
            words = phrase.split()
            for word in words:
                self.degree[word] += len(words)
                self.frequency[word] += 1
        for phrase in set(phrases):  # votes count each document once
            self.votes[phrase] += weight
            self.sources[phrase].add(source)
            self.reviews[phrase] += source == "review"

    def quality(self, phrase: str) -> float:
        """RAKE's mean degree/frequency of the phrase's words: 1 (lone word) to max_words."""
        words = phrase.split()
        return sum(self.degree[w] / self.frequency[w] for w in words) / len(words)


def extract_tags(item: TaggableItem, config: TagConfig | None = None) -> list[ItemTag]:
    """The item's top tags, best first (see the module docstring for the scoring)."""
    config = config or TagConfig()
    where = _where_words(item.known_names)
    evidence = _Evidence()
    for text, weight, source in _documents(item, config):
        evidence.add(candidate_phrases(text, config.max_words, also_stop=where), weight, source)
    # A phrase only reviews use needs several reviewers: one person's wording is not the item.
    needed = min(config.min_reviews, len(item.reviews))
    scores = {
        phrase: vote * evidence.quality(phrase)
        for phrase, vote in evidence.votes.items()
        if "text" in evidence.sources[phrase] or evidence.reviews[phrase] >= needed
    }
    if not scores:
        return []
    best = max(scores.values())
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return [
        ItemTag(phrase, score / best, "+".join(sorted(evidence.sources[phrase])))
        for phrase, score in ranked[: config.top_n]
        if score / best >= config.min_weight
    ]
