"""Data-parallel training: the batch split, the ranks' gradients, and 2 gloo processes on the
CPU training the model 1 process trains (within float rounding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.distributed import ParallelPlan, train_data_parallel
from ml.epoch import SINGLE, Shard, batch_loss
from ml.train import TrainConfig, TrainingRun, train

CPU = torch.device("cpu")
SMALL = dict(dim=16, num_negatives=64, validation_users=None, weight_decay=1e-3)
# The shipped model and loss, with the learned prior (its gradient must be averaged too).
SHIPPED = dict(SMALL, model="interest", loss="full_softmax", learn_prior=True)
# Measured: 2 processes' parameters differ from 1 process's by ~1e-6 after 3 epochs (the
# ranks sum the loss in another order); a wrong batch moves them by ~1e-2.
PARAMETER_TOLERANCE = 1e-4


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_the_ranks_shares_partition_every_batch_in_order(world: int) -> None:
    for n in range(0, 26):
        parts = [Shard(rank, world).part(n) for rank in range(world)]
        taken = np.concatenate([np.arange(n)[part] for part in parts])
        assert taken.tolist() == list(range(n))  # every position once, in order
        sizes = [part.stop - part.start for part in parts]
        assert max(sizes) - min(sizes) <= 1
        assert sizes == [len(a) for a in np.array_split(np.arange(n), world)]
    with pytest.raises(ValueError, match="rank 2 is outside 0..1"):
        Shard(2, 2)


def _gradients(run: TrainingRun, index: np.ndarray, shard: Shard) -> list[torch.Tensor]:
    """Gradient of ``shard``'s loss of the batch ``index`` (negatives drawn by one seed)."""
    run.trainable.zero_grad(set_to_none=False)
    rng = np.random.default_rng(5)
    loss = batch_loss(run.trainable, run.ops, run.batches, run.config, index, rng, shard)
    loss.backward()
    # A parameter the graph does not use (the interests' projection here) has no gradient.
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone()
            for p in run.trainable.parameters()]  # fmt: skip


def _average(grads: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    return [torch.stack(per_rank).mean(0) for per_rank in zip(*grads, strict=True)]


def _close(a: list[torch.Tensor], b: list[torch.Tensor], atol: float) -> bool:
    """Equal within ``atol`` plus float32 rounding (a lone rank's loss is scaled by the world
    and DDP divides it again)."""
    return all(torch.allclose(x, y, atol=atol, rtol=1e-5) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(
    "extra",
    [SHIPPED, dict(SMALL, model="lightgcn", loss="softmax"), dict(SMALL, loss="bpr")],
    ids=["full_softmax", "softmax", "bpr"],
)
def test_the_ranks_gradients_average_to_the_one_process_gradient(make_planted, extra) -> None:
    """What DDP computes (the ranks' mean gradient) is the one-process gradient; with a wrong
    split (a rank's share taken twice, another's dropped) it is not."""
    graph, _, _ = make_planted(features=True)
    run = TrainingRun.prepare(graph, TrainConfig(**extra), CPU)
    # An odd batch (shares of 17 and 16 users or edges) and one smaller than the world.
    for index in (np.arange(33) * 3, np.array([5])):
        one = _gradients(run, index, SINGLE)
        ranks = [_gradients(run, index, Shard(rank, 2)) for rank in range(2)]
        assert _close(_average(ranks), one, atol=1e-6)
        three = [_gradients(run, index, Shard(rank, 3)) for rank in range(3)]
        assert _close(_average(three), one, atol=1e-6)
    index = np.arange(33) * 3
    one = _gradients(run, index, SINGLE)
    first = _gradients(run, index, Shard(0, 2))
    assert not _close(_average([first, first]), one, atol=1e-4)


def test_two_gloo_processes_train_the_model_one_process_trains(make_planted) -> None:
    """The shipped model on 2 CPU processes (gloo) against 1: the same losses, parameters,
    validation metrics and early stop (rank 0 decides, the other rank follows)."""
    # No content features: the model's attribute table gets no gradient (DDP must cope); 120
    # users in batches of 17 leave a last batch of one user, so rank 1's share is empty.
    graph, _, _ = make_planted()
    config = TrainConfig(**SHIPPED, user_batch_size=17, epochs=6, patience=1, lr=0.05)
    one = train(graph, config, CPU)
    two = train_data_parallel(graph, config, processes=2)
    assert len(two.history) == len(one.history) < config.epochs  # stopped early, together
    assert two.best_epoch == one.best_epoch
    for a, b in zip(one.history, two.history, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)
        assert b["recall@20"] == pytest.approx(a["recall@20"], abs=1e-6)
    for name, value in one.model.state_dict().items():
        diff = float((two.model.state_dict()[name] - value).abs().max())
        assert diff < PARAMETER_TOLERANCE, name
    assert two.prior_weight == one.prior_weight
    assert two.best_metrics["learned"] == pytest.approx(one.best_metrics["learned"], abs=1e-5)


def test_more_processes_than_devices_train_on_the_cpu_with_the_cores_shared() -> None:
    plan = ParallelPlan.for_processes(2)
    if torch.cuda.device_count() >= 2:
        assert plan.backend == "nccl" and plan.device(1) == torch.device("cuda", 1)
    else:
        assert plan.backend == "gloo" and plan.device(1) == CPU
    assert plan.threads >= 1
    with pytest.raises(ValueError, match="at least 1 process"):
        ParallelPlan.for_processes(0)


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA devices")
def test_two_nccl_processes_train_the_model_one_gpu_trains(make_planted) -> None:
    graph, _, _ = make_planted()
    config = TrainConfig(**SHIPPED, user_batch_size=17, epochs=3, patience=3)
    one = train(graph, config, torch.device("cuda"))
    two = train_data_parallel(graph, config, processes=2)
    for name, value in one.model.state_dict().items():
        assert float((two.model.state_dict()[name] - value).abs().max()) < PARAMETER_TOLERANCE
