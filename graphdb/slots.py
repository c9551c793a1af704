"""The two embedding slots, ``a`` and ``b``, and the Cypher names that belong to each.

Users and items hold a model version's vector in one of two slot properties, ``embedding_a``
or ``embedding_b``, each under its own vector index (``user_embedding_a``, ...), with a stamp
``embedding_version_<slot>`` saying which version the value belongs to (migration 0013).
``(:ModelVersion {active: true, slot})`` names the slot readers use. A full write-back fills
the slot the active version does not use and then flips the pointer (``graphdb.embeddings``).

Cypher cannot take a property or index name as a parameter, so every name is a constant made
here from one template for the two fixed slot names; code picks one by the version's slot,
and nothing a caller passes is ever formatted into a query. A query that reads the active
version and a vector in one transaction picks the slot with ``CASE m.slot`` (see
:func:`active_vector`), which always agrees with the pointer it read.

Why a reader never sees a mix: the slot of the active version is only written by incremental
refreshes of that same version. The other slot is cleared and refilled by the *next* full
write-back, so a reader that read the pointer just before a switch and its slot just after
still reads the old version's complete vectors, until a second write-back starts.
"""

from __future__ import annotations

from dataclasses import dataclass

SLOT_NAMES = ("a", "b")
DIMENSIONS = 64
# Migration 0009's settings (unquantized, cheaper HNSW build); 0013 gives each slot these.
INDEX_OPTIONS = (
    "OPTIONS {indexConfig: {`vector.dimensions`: 64, `vector.similarity_function`: 'cosine', "
    "`vector.quantization.enabled`: false, `vector.hnsw.m`: 16, "
    "`vector.hnsw.ef_construction`: 64}}"
)


@dataclass(frozen=True)
class Slot:
    """The property and index names of one slot."""

    name: str
    vector: str  # the vector property, e.g. ``embedding_a``
    version: str  # the version stamp of that value, ``embedding_version_a``
    updated_at: str  # when the value was last written, ``embedding_updated_at_a``
    user_index: str  # vector index over ``User.<vector>``
    item_index: str  # vector index over ``Item.<vector>``

    def index(self, label: str) -> str:
        return self.user_index if label == "User" else self.item_index

    def create_index(self, label: str) -> str:
        """The ``CREATE VECTOR INDEX`` statement of this slot's index on ``label``."""
        return (
            f"CREATE VECTOR INDEX {self.index(label)} IF NOT EXISTS "
            f"FOR (n:{label}) ON n.{self.vector} {INDEX_OPTIONS}"
        )


SLOTS: dict[str, Slot] = {
    name: Slot(
        name=name,
        vector=f"embedding_{name}",
        version=f"embedding_version_{name}",
        updated_at=f"embedding_updated_at_{name}",
        user_index=f"user_embedding_{name}",
        item_index=f"item_embedding_{name}",
    )
    for name in SLOT_NAMES
}
LABELS = ("User", "Item")
VECTOR_INDEX_NAMES = tuple(slot.index(label) for slot in SLOTS.values() for label in LABELS)


def slot_of(name: str | None) -> Slot:
    """The slot called ``name``; a version without one (or a stray name) is an error."""
    if name not in SLOTS:
        raise ValueError(f"unknown embedding slot {name!r}; expected one of {SLOT_NAMES}")
    return SLOTS[name]


def other_slot(active: str | None) -> Slot:
    """The slot a new version is written to: the one ``active`` does not use (``a`` first)."""
    return SLOTS["a"] if active is None else SLOTS["b" if slot_of(active).name == "a" else "a"]


def per_slot(template: str, **names: str) -> dict[str, str]:
    """``template`` for each slot, with ``{vector}``, ``{version}``, ``{updated_at}``,
    ``{user_index}`` and ``{item_index}`` (and any ``{key}`` of ``names``) replaced. Plain
    replacement, not ``str.format``: Cypher has braces of its own."""
    filled = {}
    for s in SLOTS.values():
        text = template
        fields = {"vector": s.vector, "version": s.version, "updated_at": s.updated_at,
                  "user_index": s.user_index, "item_index": s.item_index, **names}  # fmt: skip
        for key, value in fields.items():
            text = text.replace("{" + key + "}", value)
        filled[s.name] = text
    return filled


def active_vector(node: str, version: str = "m") -> str:
    """A Cypher expression: ``node``'s vector in the slot of version ``version``, null when
    that slot holds no value of that version. ``node`` and ``version`` are variable names
    from this codebase's constants, never input."""
    cases = " ".join(
        f"WHEN '{s.name}' THEN CASE WHEN {node}.{s.version} = {version}.version "
        f"THEN {node}.{s.vector} END"
        for s in SLOTS.values()
    )
    return f"CASE {version}.slot {cases} END"


def active_stamp(node: str, version: str = "m") -> str:
    """A Cypher expression: the version stamp of ``node``'s value in ``version``'s slot."""
    cases = " ".join(f"WHEN '{s.name}' THEN {node}.{s.version}" for s in SLOTS.values())
    return f"CASE {version}.slot {cases} END"


def active_index(label: str, version: str = "m") -> str:
    """A Cypher expression: the name of ``label``'s vector index in ``version``'s slot."""
    cases = " ".join(f"WHEN '{s.name}' THEN '{s.index(label)}'" for s in SLOTS.values())
    return f"CASE {version}.slot {cases} END"
