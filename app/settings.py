"""Typed settings, read once at start-up from ``IG_*`` environment variables (or ``.env``).

Invalid values stop the process with a message naming the variable, instead of failing
later inside a request.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from graphdb.driver import Neo4jTarget
from graphdb.fold import DEFAULT_HALF_LIFE_DAYS, DEFAULT_TYPE_WEIGHTS, EVENT_TYPES, FoldConfig
from graphdb.local.server import NEO4J_VERSION, ServerConfig, read_password

PositiveFloat = Annotated[float, Field(gt=0)]
Port = Annotated[int, Field(ge=1, le=65535)]
# A size both Neo4j's settings and the JVM's -Xmx accept, e.g. 512m or 2g (2G reads as 2g).
MemorySize = Annotated[
    str, BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v),
    Field(pattern=r"^[1-9][0-9]*[kmg]$"),
]  # fmt: skip


REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA_ENV = "IG_SHARED_DATA"
MAX_TRAIN_PROCESSES = 64


def shared_data_dir() -> Path:
    """Where the public research datasets live: ``$IG_SHARED_DATA``, else ``<repo>/../shared/data``.

    The default is beside the checkout, not relative to the working directory, so every command
    finds the same folder wherever it is started from. Read from the environment at each call rather
    than a :class:`Settings` field: the CLI, the tests and the benchmarks all need it without
    loading (and validating) the service's settings.
    """
    override = os.environ.get(SHARED_DATA_ENV)
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data"


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "interest-graph"


class Settings(BaseSettings):
    """Every knob of the service. Environment variable = ``IG_`` + upper-case field name."""

    model_config = SettingsConfigDict(env_prefix="IG_", env_file=".env", extra="ignore")

    # Where the graph lives.
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: str | None = None
    neo4j_database: str = "neo4j"
    # How long a request retries a failing graph before answering 503.
    neo4j_retry_s: Annotated[float, Field(ge=0, le=120)] = 3.0

    # The locally provisioned server (`interest-graph neo4j start`).
    state_dir: Path = Path("var")
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    neo4j_version: str = NEO4J_VERSION
    neo4j_bolt_port: Port = 7687
    neo4j_http_port: Port = 7474
    neo4j_heap: MemorySize = "1g"
    neo4j_pagecache: MemorySize = "1g"
    neo4j_auth: bool = True
    neo4j_class_archive: bool = True

    # How behaviour folds into edge weights.
    type_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_TYPE_WEIGHTS))
    half_life_days: PositiveFloat = DEFAULT_HALF_LIFE_DAYS

    # Event intake limits.
    max_batch_events: Annotated[int, Field(ge=1, le=100_000)] = 1000
    max_text_chars: Annotated[int, Field(ge=1)] = 20_000
    max_body_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024 * 1024
    max_future_skew_s: Annotated[float, Field(ge=0)] = 300.0
    min_event_year: Annotated[int, Field(ge=1970, le=2100)] = 1990

    # The model (`interest-graph train`).
    model_dir: Path = Path("var/models")
    model_kind: Literal["interest", "inductive", "lightgcn"] = "interest"
    model_dim: Annotated[int, Field(ge=8, le=1024)] = 64
    model_layers: Annotated[int, Field(ge=1, le=4)] = 2
    train_epochs: Annotated[int, Field(ge=1, le=10_000)] = 30
    train_lr: PositiveFloat = 0.05
    train_seed: int = 0
    train_time_budget_s: PositiveFloat | None = None
    # Share of item IDs hidden per training step, so the content path (categories, brand,
    # text) alone must place items: better vectors for brand-new items, at some cost to
    # items with a history (bench/coldstart.py measures both sides).
    train_id_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    # Feed item text vectors to the inductive model. Training first encodes every catalog
    # text that has no vector yet: fast on a GPU, about 30-50 items/s on a small CPU, so a
    # large catalog on a CPU-only machine may prefer to switch it off.
    train_use_text: bool = True
    # Train the popularity prior with the loss instead of only choosing its weight afterwards.
    # Gowalla's best rankings, but worse in the Amazon Beauty replay (docs/benchmarks.md), so
    # off by default. The vectors then carry taste without popularity: a cosine-only ranking
    # (the cookbook's vector-index recipe) is much weaker than the API's, which adds the prior.
    train_learn_prior: bool = False
    # Processes that train the model together (DistributedDataParallel, ml/distributed.py):
    # each holds the whole graph and takes its share of every batch; NCCL when each has a
    # CUDA device of its own, else gloo on the CPU. 1 = one process, as before.
    train_processes: Annotated[int, Field(ge=1, le=MAX_TRAIN_PROCESSES)] = 1
    # Vectors per transaction when a trained version is written into its embedding slot.
    # Nothing is served from that slot until the switch, one small transaction after them.
    train_write_batch: Annotated[int, Field(ge=1, le=100_000)] = 5000

    # Incremental refresh (the worker's job; see app/worker/scheduler/refresh.py).
    # A vector is written back only if some coordinate moved by more than this. Half the
    # 1e-5 within which a refresh must match a full recomputation, and above the float32
    # rounding of subset vs full propagation (seen up to 2e-6), which is not a move.
    refresh_write_tolerance: Annotated[float, Field(gt=0, le=0.01)] = 5e-6
    # Changes are re-read this far behind the watermark: a writer whose transaction began
    # before the watermark may commit after it.
    refresh_overlap_s: Annotated[float, Field(ge=0, le=3600)] = 60.0
    # Vectors per refresh write transaction. Each commit updates the vector index; 1,000 a
    # transaction rewrote all vectors 11-13 % faster than 2,000, and 500 or 4,000 were slower
    # (docs/benchmarks.md, "Incremental refresh").
    refresh_write_batch: Annotated[int, Field(ge=1, le=100_000)] = 1000
    # Vectors per refresh run written for nodes whose own edges and content did not change
    # (they move only because a neighbour's degree did: one event on a popular item nudges
    # every user two hops away). Nodes that did change are always written. Beyond the budget
    # the largest moves go first and the rest wait for the following runs, which also run
    # when nothing new arrived, so a refresh costs what the traffic changed, not the graph's
    # size, and the stored vectors still converge to a full recomputation.
    refresh_write_budget: Annotated[int, Field(ge=1, le=100_000_000)] = 20_000
    # Share of the direction of a user's interactions newer than their vector, folded into
    # it at request time (instant fold-in; 0 = wait for the refresh).
    foldin_weight: Annotated[float, Field(ge=0, le=1)] = 0.5
    # Share of the short-term (sequence) component in the final score; 0 = long-term only.
    short_term_weight: Annotated[float, Field(ge=0, le=1)] = 0.5
    short_term_max_len: Annotated[int, Field(ge=2, le=500)] = 50
    # Lists shared out between a user's category interests in proportion to the evidence
    # (app/serving/intent.py): a change-point model asks whether the current session (it
    # ends at a gap longer than session_gap_minutes) moved the user's focus; one event in a
    # new category makes that switch_after_one likely, a moved focus puts `focus` of the
    # list in its category, an unmoved user strays anywhere at stray_rate; the model's own
    # picks outside those categories get
    # max(open_share, open_prior_events / (n + open_prior_events)) for a user with n items.
    rec_intent: bool = True
    rec_intent_switch_after_one: Annotated[float, Field(gt=0, lt=1)] = 0.25
    # Unset: fitted to how the shop's users keep to a category (app/serving/novelty.py).
    rec_intent_focus: Annotated[float | None, Field(gt=0, le=1)] = None
    rec_intent_stray_rate: Annotated[float, Field(gt=0, le=1)] = 0.1
    rec_intent_session_gap_minutes: Annotated[float, Field(gt=0, le=10_080)] = 30.0
    rec_intent_session_items: Annotated[int, Field(ge=0, le=100)] = 10
    rec_open_prior_events: Annotated[float, Field(ge=0, le=1000)] = 2.0
    # Within a category: its popularity counts as this many of the user's own items there,
    # and the model's score takes this share of the order (app/serving/intent.py). Unset,
    # each version's own choice applies, made on its training holdout (ml/category_order.py):
    # a shop whose shoppers pick by popularity within a category gets a large count, one
    # where each has their own taste (Amazon Beauty) the own items. Set, it overrides.
    rec_intent_popularity_events: Annotated[float | None, Field(ge=0, le=1e6)] = None
    rec_intent_model_weight: Annotated[float | None, Field(ge=0, le=1)] = None
    # The share of a list's long-term part given out by category; the rest goes to the
    # model's best scores anywhere. Unset, each version's choice applies, made on its training
    # holdout (app/training/sharing.py): 1 unless the scores alone rank its next items
    # clearly better. The session share scales the part a moved focus takes the same way.
    rec_intent_interest_share: Annotated[float | None, Field(ge=0, le=1)] = None
    rec_intent_session_share: Annotated[float | None, Field(ge=0, le=1)] = None
    rec_open_share: Annotated[float, Field(ge=0, le=1)] = 0.05
    # Near-duplicates (same leaf category) of an item bought within the window of the user's
    # newest interaction leave their list, unless the category's learned repeat-purchase
    # rate (share of its buyers who bought in it again) reaches the minimum
    # (app/serving/repeat.py). 0.5: most of the category's buyers buy there again.
    # Off by default: on the Amazon Beauty replay (consumables) it cost a quarter of the
    # frozen model's hits; shops of durable goods (the demo) turn it on.
    rec_repeat_rule: bool = False
    rec_repeat_min_rate: Annotated[float, Field(ge=0, le=1)] = 0.5
    rec_repeat_window_days: Annotated[float, Field(gt=0, le=3650)] = 30.0
    short_term_epochs: Annotated[int, Field(ge=1, le=10_000)] = 100

    # The secret the erasure tombstones are keyed with (HMAC-SHA-256 of the user id; see
    # docs/privacy.md). Unset, one is generated on first use into <state_dir>/erasure-salt,
    # readable only by its owner. API workers on several hosts must share it: set this to the
    # same value (at least 32 characters) on each.
    erasure_salt: SecretStr | None = Field(default=None, min_length=32)

    # Serving.
    api_auth: bool = True
    host: str = "127.0.0.1"
    port: Port = 8000
    workers: Annotated[int, Field(ge=1, le=64)] = 2
    # Threads per worker: requests mostly wait on Neo4j, so threads overlap that waiting.
    threads: Annotated[int, Field(ge=1, le=256)] = 8
    # Lists ranked in advance per API worker for the most recently active users, dropped
    # as soon as the change feed reports the user changed (app/api/wsgi/rec_lists.py).
    rec_lists: bool = True
    rec_lists_depth: Annotated[int, Field(ge=10, le=1000)] = 100
    rec_lists_max_users: Annotated[int, Field(ge=1, le=10_000_000)] = 100_000
    rec_lists_rebuild_s: Annotated[float, Field(ge=10, le=86_400)] = 600.0
    # Must stay well under a second: lists are not served when the last poll is older.
    rec_lists_poll_s: Annotated[float, Field(ge=0.05, le=0.5)] = 0.25
    # A write's changed_at is its transaction's start: changes are re-read this far back.
    rec_lists_feed_overlap_s: Annotated[float, Field(ge=0, le=3600)] = 30.0
    # A list answer first reads the user's changed_at (one indexed read): an event another
    # worker accepted shows at once. False: within rec_lists_poll_s via the change feed.
    rec_lists_read_your_writes: bool = True

    # The worker (`interest-graph worker`): schedule, lease and run bookkeeping.
    refresh_interval_s: Annotated[int, Field(ge=5, le=86_400)] = 60
    retrain_cron: str = "0 3 * * *"  # crontab, UTC: the nightly full retrain
    decay_interval_s: Annotated[int, Field(ge=60, le=86_400)] = 3600
    refresh_poll_s: Annotated[float, Field(ge=0.5, le=300)] = 5.0
    lease_ttl_s: Annotated[float, Field(ge=5, le=3600)] = 60.0
    refresh_retention_days: Annotated[float, Field(gt=0, le=3650)] = 14.0
    # On SIGTERM, how long a run in progress may take to finish before it is abandoned.
    worker_stop_grace_s: Annotated[float, Field(ge=0, le=3600)] = 20.0

    @field_validator("retrain_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(
                f"not a crontab expression (minute hour day month weekday): {exc}"
            ) from exc
        return value.strip()

    @field_validator("type_weights")
    @classmethod
    def _known_types(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(EVENT_TYPES)
        if unknown:
            raise ValueError(f"unknown event types {sorted(unknown)}; known: {list(EVENT_TYPES)}")
        return {**DEFAULT_TYPE_WEIGHTS, **value}

    @property
    def neo4j_state_dir(self) -> Path:
        return self.state_dir / "neo4j"

    def server_config(self) -> ServerConfig:
        return ServerConfig(
            cache_dir=self.cache_dir,
            state_dir=self.neo4j_state_dir.resolve(),
            bolt_port=self.neo4j_bolt_port,
            http_port=self.neo4j_http_port,
            heap=self.neo4j_heap,
            pagecache=self.neo4j_pagecache,
            auth=self.neo4j_auth,
            version=self.neo4j_version,
            class_archive=self.neo4j_class_archive,
        )

    def neo4j_target(self) -> Neo4jTarget:
        """Connection details; the password falls back to the local server's generated one."""
        password = self.neo4j_password
        if password is None and self.neo4j_auth:
            password = read_password(self.server_config())
        return Neo4jTarget(
            uri=self.neo4j_uri,
            user=self.neo4j_user,
            password=password,
            database=self.neo4j_database,
        )

    def tombstone_salt(self) -> bytes:
        """The erasure salt: ``IG_ERASURE_SALT``, else the one generated into the state folder."""
        if self.erasure_salt is not None:
            return self.erasure_salt.get_secret_value().encode("utf-8")
        return read_or_create_secret(self.state_dir / "erasure-salt")

    def fold_config(self) -> FoldConfig:
        return FoldConfig(type_weights=self.type_weights, half_life_days=self.half_life_days)


def read_or_create_secret(path: Path) -> bytes:
    """The secret in ``path``, made there first (256 random bits, mode 0600) if missing.

    Written to a private temporary file and linked into place, so processes starting together
    agree on one secret and none reads a half-written file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: theirs is the one
        finally:
            temporary.unlink()
    return path.read_text().strip().encode("utf-8")


def setting_default(name: str) -> Any:
    """The default of one :class:`Settings` field, so other layers reuse the number, not copy it.

    Raises:
        KeyError: ``name`` is not a settings field.
    """
    return Settings.model_fields[name].get_default(call_default_factory=True)


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; keyword overrides win (used by tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]
