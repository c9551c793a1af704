"""Data-parallel training of the graph model on several processes (DistributedDataParallel).

``N`` processes train one model: each holds the whole graph and runs the whole full-graph
propagation (it is *replicated*, not split: memory per process is the one-process memory),
takes its share of every global batch of users (:class:`ml.epoch.Shard`), and PyTorch's
:class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients, so every rank
steps the same weights. What is divided is the loss: the ``[users, n_items]`` logits of the
full softmax and their backward pass. Rank 0 alone validates, keeps the best weights and
decides when to stop; the others follow its decision, broadcast before every epoch.

Every rank seeds its generators alike, so all draw the global batches one process would
draw, and the ranks' gradients average to the one-process gradient (equal up to float
rounding). Backends: NCCL when every rank has a CUDA device of its own, else gloo on the CPU
(each rank then gets an equal part of the cores). The calling process is rank 0 and returns
the result; the others are started with ``torch.multiprocessing`` (spawn) and end with it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from ml.data import CSRMatrix, InteractionGraph
from ml.epoch import Shard
from ml.train import OnEpoch, TrainConfig, TrainingRun, TrainResult, default_device, train

_HOST = "127.0.0.1"
# Followers wait at the broadcast while rank 0 validates, which takes minutes on a large
# graph; a dead peer is noticed sooner, when its connection closes.
_TIMEOUT = timedelta(minutes=30)


@dataclass(frozen=True)
class ParallelPlan:
    """How ``processes`` ranks train on this machine.

    Attributes:
        processes: Number of ranks.
        backend: ``"nccl"`` (one CUDA device per rank) or ``"gloo"`` (CPU).
        threads: CPU threads each rank's torch uses (the cores shared out).
    """

    processes: int
    backend: str
    threads: int

    @classmethod
    def for_processes(cls, processes: int) -> ParallelPlan:
        """NCCL when there are at least ``processes`` CUDA devices, else gloo on the CPU.

        Raises:
            ValueError: ``processes`` is below 1, or this torch has no ``torch.distributed``.
        """
        if processes < 1:
            raise ValueError(f"training needs at least 1 process, got {processes}")
        if processes > 1 and not dist.is_available():
            raise ValueError("this torch build has no torch.distributed: train with 1 process")
        cuda = torch.cuda.is_available() and torch.cuda.device_count() >= processes
        cores = len(os.sched_getaffinity(0))
        return cls(processes, "nccl" if cuda else "gloo", max(1, cores // processes))

    def device(self, rank: int) -> torch.device:
        """Where rank ``rank`` trains."""
        if self.processes == 1:
            return default_device()
        return torch.device("cuda", rank) if self.backend == "nccl" else torch.device("cpu")


def train_data_parallel(
    graph: InteractionGraph,
    config: TrainConfig,
    processes: int,
    validation: CSRMatrix | None = None,
    on_epoch: OnEpoch | None = None,
) -> TrainResult:
    """:func:`ml.train.train` on ``processes`` processes (1: that function, unchanged).

    Args:
        graph: Interactions to learn from (every rank gets a copy).
        config: Hyper-parameters; ``user_batch_size`` / ``batch_size`` is the global batch.
        processes: Number of ranks; this process is rank 0.
        validation: Validation targets, as for :func:`ml.train.train`.
        on_epoch: Called on rank 0 after every epoch, as for :func:`ml.train.train`.

    Returns:
        Rank 0's result: the best model by ``config.monitor`` and the training history.
    """
    plan = ParallelPlan.for_processes(processes)
    if processes == 1:
        return train(graph, config, plan.device(0), validation, on_epoch)
    # Port 0: the store binds a free port and the followers are told which.
    store = dist.TCPStore(_HOST, 0, processes, is_master=True, wait_for_workers=False,
                          timeout=_TIMEOUT)  # fmt: skip
    followers = mp.start_processes(
        _follow, args=(plan, store.port, graph, config, validation),
        nprocs=processes - 1, join=False, start_method="spawn",
    )  # fmt: skip
    try:
        result = _lead(plan, store, graph, config, validation, on_epoch)
    except BaseException:
        _stop(followers)
        raise
    while not followers.join():  # raises if a follower failed
        pass
    return result


def _lead(
    plan: ParallelPlan,
    store: dist.Store,
    graph: InteractionGraph,
    config: TrainConfig,
    validation: CSRMatrix | None,
    on_epoch: OnEpoch | None,
) -> TrainResult:
    """Rank 0: trains its share, validates, keeps the best weights, tells the others when to
    stop."""
    started = time.perf_counter()
    with _process_group(plan, store, 0):
        run, ddp = _join_run(plan, 0, graph, config, validation)

        def epoch() -> float:
            _broadcast_go(plan, True)
            return _epoch(plan, 0, run, ddp)

        outcome = run.loop(epoch, on_epoch)
        _broadcast_go(plan, False)
    return run.finish(outcome, started)


def _follow(
    index: int,
    plan: ParallelPlan,
    port: int,
    graph: InteractionGraph,
    config: TrainConfig,
    validation: CSRMatrix | None,
) -> None:
    """Ranks 1..N-1 (spawned): train their share of every epoch rank 0 starts."""
    rank = index + 1
    store = dist.TCPStore(_HOST, port, plan.processes, is_master=False, timeout=_TIMEOUT)
    with _process_group(plan, store, rank):
        run, ddp = _join_run(plan, rank, graph, config, validation)
        while _broadcast_go(plan, False):
            _epoch(plan, rank, run, ddp)


@contextmanager
def _process_group(plan: ParallelPlan, store: dist.Store, rank: int) -> Iterator[None]:
    """This rank's membership of the process group, and its share of the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(plan.threads)
    try:
        if plan.backend == "nccl":
            torch.cuda.set_device(rank)
        dist.init_process_group(plan.backend, store=store, rank=rank,
                                world_size=plan.processes, timeout=_TIMEOUT)  # fmt: skip
        try:
            yield
        finally:
            dist.destroy_process_group()
    finally:
        torch.set_num_threads(threads)


def _join_run(
    plan: ParallelPlan,
    rank: int,
    graph: InteractionGraph,
    config: TrainConfig,
    validation: CSRMatrix | None,
) -> tuple[TrainingRun, DistributedDataParallel]:
    """This rank's copy of the run (same seeds, same holdout), and DDP around its model."""
    run = TrainingRun.prepare(graph, config, plan.device(rank), validation)
    # The inputs (the graph operators) already sit on the rank's device: no device_ids, so
    # DDP does not try to copy them. Every step uses the same parameters (the full graph is
    # propagated each time): a static graph. The only buffers are constants.
    ddp = DistributedDataParallel(run.trainable, device_ids=None, forward_sync_buffers=False,
                                  static_graph=True)  # fmt: skip
    return run, ddp


def _broadcast_go(plan: ParallelPlan, go: bool) -> bool:
    """Rank 0's ``go`` (another epoch, or stop), as every rank receives it."""
    flag = torch.tensor([int(go)], device=plan.device(dist.get_rank()))
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def _epoch(plan: ParallelPlan, rank: int, run: TrainingRun, ddp: DistributedDataParallel) -> float:
    """One epoch of this rank's shares; the mean loss of the global batches."""
    loss = run.epoch(Shard(rank, plan.processes), ddp)
    total = torch.tensor([loss], dtype=torch.float64, device=plan.device(rank))
    dist.all_reduce(total)  # each rank's loss is its share of the batch loss, times N
    return float(total.item()) / plan.processes


def _stop(followers: mp.ProcessContext) -> None:
    """Ends the followers this call started (rank 0 failed: nobody will tell them to stop)."""
    for process in followers.processes:
        if process.is_alive():
            process.terminate()
        process.join()
