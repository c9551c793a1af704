"""Training loop: full-graph propagation per step, BPR or sampled-softmax loss, early stopping."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ml.data import CSRMatrix, InteractionGraph, holdout_split
from ml.early_stopping import LoopConfig, LoopOutcome, train_with_early_stopping
from ml.epoch import SINGLE, Shard, Trainable, run_epoch
from ml.evaluate import evaluate_ranking
from ml.models.graph import GraphOperators
from ml.models.inductive import InductiveGCN
from ml.models.interest_graph import InterestGraphGNN
from ml.models.lightgcn import WeightedLightGCN
from ml.popularity import LearnedPopularity, choose_prior_weight, item_log_degree
from ml.training_edges import TrainingEdges

# Models that embed nodes from their edges (no per-user table): refreshable between retrains.
InductiveModel = InductiveGCN | InterestGraphGNN
INDUCTIVE_KINDS = ("interest", "inductive")
EmbeddingModel = WeightedLightGCN | InductiveModel
# Called after every epoch with the history row, the model and the graph operators.
OnEpoch = Callable[[dict[str, float], EmbeddingModel, GraphOperators], None]


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (JSON-serialisable via :meth:`to_dict`).

    Attributes:
        model: ``"interest"`` (the heterogeneous interest-graph GNN, inductive: users are
            embedded from their interactions and interests), ``"inductive"`` (its predecessor,
            interactions only; still loads stored versions) or ``"lightgcn"`` (transductive).
        dim: Embedding size.
        num_layers: Propagation depth.
        loss: ``"full_softmax"`` (exact softmax over all items, per-user batches, cosine
            scores), ``"softmax"`` (sampled softmax over shared negatives, cosine scores) or
            ``"bpr"``.
        num_negatives: Negatives shared by a batch for the softmax loss.
        temperature: Softmax temperature.
        lr: Adam learning rate.
        lr_decay: Multiplies the learning rate after every epoch (1.0 = constant).
        weight_decay: L2 penalty on the batch's layer-0 embeddings (LightGCN style).
        batch_size: Positive edges per step for ``softmax`` / ``bpr`` (one full-graph
            propagation per step).
        user_batch_size: Users per step for ``full_softmax``.
        epochs: Maximum number of passes over the training edges.
        seed: Seed of initialisation, batching and sampling.
        eval_every: Validate every this many epochs.
        patience: Stop after this many validations without improvement.
        monitor: Validation metric for early stopping and model selection.
        eval_k: Cut-offs reported on validation.
        validation_fraction: Share of a validation user's edges held out when no validation
            targets are given.
        validation_users: Users contributing holdout edges (``None`` = all users).
        time_budget_s: Stop after the epoch that crosses this wall-clock budget (``None`` = off).
        use_item_id: Inductive model: give known items an ID embedding.
        id_dropout: Inductive model: probability of hiding an item ID in a step.
        use_text: Inductive model: read the items' text vectors when the graph has them.
        init_std: Standard deviation of the embedding initialisation.
        popularity_prior: After training, choose the weight of the popularity prior on the
            validation holdout (:mod:`ml.popularity`); off = pure cosine (weight 0).
        learn_prior: ``full_softmax`` only: train the popularity prior with the loss
            (:class:`ml.popularity.LearnedPopularity`); its weight joins the grid.
    """

    model: str = "interest"  # as the service's IG_MODEL_KIND default (app.settings)
    dim: int = 64
    num_layers: int = 2
    loss: str = "full_softmax"
    num_negatives: int = 1024
    temperature: float = 0.1
    lr: float = 0.05
    lr_decay: float = 1.0
    weight_decay: float = 0.0
    batch_size: int = 8192
    user_batch_size: int = 512
    epochs: int = 50
    seed: int = 0
    eval_every: int = 1
    patience: int = 3
    monitor: str = "recall@20"
    eval_k: tuple[int, ...] = (20,)
    validation_fraction: float = 0.2
    validation_users: int | None = 5000
    time_budget_s: float | None = None
    use_item_id: bool = True
    id_dropout: float = 0.0
    use_text: bool = True
    init_std: float = 0.1
    popularity_prior: bool = True
    learn_prior: bool = False

    def __post_init__(self) -> None:
        if self.learn_prior and (self.loss != "full_softmax" or not self.popularity_prior):
            raise ValueError("learn_prior needs loss='full_softmax' and popularity_prior")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view of the config."""
        out = asdict(self)
        out["eval_k"] = list(self.eval_k)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`."""
        values = dict(values)
        values["eval_k"] = tuple(values.get("eval_k", (20,)))
        return cls(**values)


@dataclass(kw_only=True)
class TrainResult(LoopOutcome):
    """Outcome of :func:`train` (the loop's record, see :class:`LoopOutcome`).

    Attributes:
        model: The model with the best validation weights loaded (in eval mode).
        ops: Graph operators of the training graph (for inference and subset refresh).
        config: The config used.
        prior_weight: Weight of the popularity prior chosen on the validation holdout;
            ``best_metrics`` are measured with it (and hold it as ``prior_weight``).
        train_graph: The training part of the graph (``ops`` is built on it).
        targets: The validation targets held out of it.
    """

    model: EmbeddingModel
    ops: GraphOperators
    config: TrainConfig
    prior_weight: float = 0.0
    train_graph: InteractionGraph | None = None
    targets: CSRMatrix | None = None


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_model(
    config: TrainConfig,
    n_users: int,
    n_items: int,
    n_features: int,
    device: torch.device,
    text_dim: int = 0,
) -> EmbeddingModel:
    """Instantiates the model named by ``config.model`` on ``device``.

    ``text_dim`` is the width of the graph's item text vectors; the inductive model reads them
    when ``config.use_text`` is set (the transductive one never does).
    """
    cosine = config.loss in ("softmax", "full_softmax")
    model: EmbeddingModel
    if config.model == "lightgcn":
        model = WeightedLightGCN(
            n_users, n_items, config.dim, config.num_layers, cosine, config.init_std
        )
    elif config.model in INDUCTIVE_KINDS:
        kind = InterestGraphGNN if config.model == "interest" else InductiveGCN
        model = kind(
            n_items,
            n_features,
            config.dim,
            config.num_layers,
            use_item_id=config.use_item_id,
            cosine=cosine,
            id_dropout=config.id_dropout,
            init_std=config.init_std,
            text_dim=text_dim if config.use_text else 0,
        )
    else:
        raise ValueError(f"unknown model {config.model!r}")
    return model.to(device)


def seed_everything(seed: int) -> np.random.Generator:
    """Seeds torch (CPU and CUDA) and returns a numpy generator for sampling."""
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


@torch.no_grad()
def embed_all(model: EmbeddingModel, ops: GraphOperators) -> tuple[torch.Tensor, torch.Tensor]:
    """Final ``(user, item)`` embeddings of every node of ``ops`` in eval mode."""
    was_training = model.training
    model.eval()
    embeddings = model(ops)
    model.train(was_training)
    return embeddings[: ops.n_users], embeddings[ops.n_users :]


def validate(
    model: EmbeddingModel,
    ops: GraphOperators,
    targets: CSRMatrix,
    exclude: CSRMatrix,
    ks: tuple[int, ...],
    prior: torch.Tensor | None = None,
) -> dict[str, float]:
    """Full-ranking validation metrics of the current weights (plus ``prior``, if given)."""
    user_vec, item_vec = embed_all(model, ops)
    return evaluate_ranking(user_vec, item_vec, targets, exclude, ks, prior=prior)


def validation_setup(
    graph: InteractionGraph, validation: CSRMatrix | None, config: TrainConfig
) -> tuple[InteractionGraph, CSRMatrix]:
    """Training graph and validation targets: given targets, or a holdout of ``graph``."""
    if validation is not None:
        return graph, validation
    split = holdout_split(
        graph, config.validation_fraction, config.seed, max_users=config.validation_users
    )
    return split.train, split.targets


@dataclass
class TrainingRun:
    """Everything one process trains with, set up alike in every process of a run.

    Attributes:
        config: The hyper-parameters.
        train_graph: The graph minus the validation holdout.
        targets: The validation targets.
        ops: Graph operators of ``train_graph``.
        seen: Training interactions, excluded from validation rankings.
        batches: The training edges as batches draw them.
        trainable: The model and its learned prior (``None`` unless ``config.learn_prior``).
        optimizer: Adam over ``trainable``.
        schedule: The learning-rate decay, stepped after each epoch.
        rng: The batch generator.
        log_degree: ``log(1 + degree)`` of every item of ``train_graph``.
    """

    config: TrainConfig
    train_graph: InteractionGraph
    targets: CSRMatrix
    ops: GraphOperators
    seen: CSRMatrix
    batches: TrainingEdges
    trainable: Trainable
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    rng: np.random.Generator
    log_degree: np.ndarray

    @classmethod
    def prepare(
        cls,
        graph: InteractionGraph,
        config: TrainConfig,
        device: torch.device,
        validation: CSRMatrix | None = None,
    ) -> TrainingRun:
        """Seeds, splits off the holdout, builds operators, model, prior and optimizer."""
        rng = seed_everything(config.seed)
        train_graph, targets = validation_setup(graph, validation, config)
        ops = GraphOperators.build(train_graph, device)
        seen = train_graph.user_items()
        batches = TrainingEdges.from_graph(train_graph)
        model = build_model(
            config, graph.n_users, graph.n_items, graph.n_features, device, graph.text_dim
        )
        log_degree = item_log_degree(train_graph)
        popularity = LearnedPopularity(log_degree, device) if config.learn_prior else None
        trainable = Trainable(model, popularity)
        optimizer = torch.optim.Adam(trainable.parameters(), lr=config.lr)
        schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)
        return cls(config, train_graph, targets, ops, seen, batches, trainable, optimizer,
                   schedule, rng, log_degree)  # fmt: skip

    @property
    def model(self) -> EmbeddingModel:
        """The embedding model being trained."""
        model: EmbeddingModel = self.trainable.model
        return model

    def epoch(self, shard: Shard = SINGLE, forward: torch.nn.Module | None = None) -> float:
        """One epoch (this rank's ``shard`` of each batch), then the learning-rate step."""
        loss = run_epoch(self.trainable, self.ops, self.batches, self.optimizer, self.config,
                         self.rng, shard, forward)  # fmt: skip
        self.schedule.step()
        return loss

    def validate(self) -> dict[str, float]:
        """Validation metrics of the current weights (with the learned prior, if any)."""
        popularity, config = self.trainable.popularity, self.config
        if popularity is None:
            return validate(self.model, self.ops, self.targets, self.seen, config.eval_k)
        weight = popularity.served_weight(config.temperature)
        prior = weight * popularity.log_degree
        metrics = validate(self.model, self.ops, self.targets, self.seen, config.eval_k, prior)
        return {**metrics, "learned": weight}

    def loop(self, run_epoch: Callable[[], float], on_epoch: OnEpoch | None) -> LoopOutcome:
        """Early stopping over ``run_epoch`` (this process's epochs), validating here."""
        c = self.config
        return train_with_early_stopping(
            self.model,
            LoopConfig(c.epochs, c.eval_every, c.patience, c.monitor, c.time_budget_s),
            run_epoch=run_epoch,
            validate=self.validate,
            on_epoch=None if on_epoch is None else lambda row: on_epoch(row, self.model, self.ops),
        )

    def finish(self, outcome: LoopOutcome, started: float) -> TrainResult:
        """Chooses the popularity prior's weight on the holdout; the result of the run."""
        config, prior_weight = self.config, 0.0
        if config.popularity_prior and outcome.best_metrics:
            user_vec, item_vec = embed_all(self.model, self.ops)
            prior_weight, with_prior = choose_prior_weight(
                user_vec, item_vec, self.log_degree, self.targets, self.seen, config.eval_k,
                config.monitor, learned=outcome.best_metrics.get("learned"),
            )  # fmt: skip
            outcome.best_metrics = {**outcome.best_metrics, **with_prior}
        outcome.total_seconds = time.perf_counter() - started
        return TrainResult(
            model=self.model, ops=self.ops, config=config, prior_weight=prior_weight,
            train_graph=self.train_graph, targets=self.targets, **vars(outcome),
        )  # fmt: skip


def train(
    graph: InteractionGraph,
    config: TrainConfig,
    device: torch.device,
    validation: CSRMatrix | None = None,
    on_epoch: OnEpoch | None = None,
) -> TrainResult:
    """Trains an embedding model with early stopping on a validation holdout.

    One process; :func:`ml.distributed.train_data_parallel` trains the same run on several.

    Args:
        graph: Interactions to learn from.
        config: Hyper-parameters.
        device: Where to train (see :func:`default_device`).
        validation: Validation targets; if ``None`` part of ``graph`` is held out
            (:func:`ml.data.holdout_split`) and the model is trained on the rest.
        on_epoch: Called after every epoch with the history row, the model (current weights)
            and the graph operators (e.g. for progress logs).

    Returns:
        The best model by ``config.monitor`` and the training history.
    """
    started = time.perf_counter()
    run = TrainingRun.prepare(graph, config, device, validation)
    return run.finish(run.loop(run.epoch, on_epoch), started)
