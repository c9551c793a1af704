"""Seconds per training epoch of the shipped model on Gowalla with 1 and with N processes.

    python bench/train_processes.py [--processes 2] [--rounds 2] [--epochs 2]

Each round trains the interest model (full softmax) for ``--epochs`` epochs once on one
process and once on ``--processes`` (DistributedDataParallel, ml/distributed.py), in turns
(1 then N, N then 1, ...) so that other work on a shared machine falls on both alike. The
epoch time is the training time of an epoch on rank 0 (validation excluded); the start-up
(spawning the followers, each building its copy of the graph) is reported apart, and so is
the peak memory of a follower rank and of this process (rank 0, the 1-process runs too).
Writes bench/results/NAME.json (``--name``, default train_processes).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # installed with torch-geometric ([train])

from app.settings import shared_data_dir
from bench._common import write_result
from ml.datasets import load_gowalla
from ml.distributed import train_data_parallel
from ml.train import TrainConfig


class RssPeaks:
    """Peak resident memory of this process (rank 0, and the 1-process runs) and of its
    children (the follower ranks), sampled every 0.2 s by a thread. Sampled, because a
    spawned child's own ``ru_maxrss`` counts the parent's memory at the fork before exec."""

    def __init__(self) -> None:
        self.me, self.leader, self.follower = psutil.Process(), 0, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.2):
            self.leader = max(self.leader, self.me.memory_info().rss)
            for child in self.me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    self.follower = max(self.follower, child.memory_info().rss)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def metrics(self, processes: int) -> dict[str, float]:
        return {
            "gowalla_cpu_peak_rss_gib_rank0": self.leader / 2**30,
            f"gowalla_cpu_peak_rss_gib_follower_rank_{processes}_processes": (
                self.follower / 2**30
            ),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=shared_data_dir() / "gowalla")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--name", default="train_processes", help="bench/results/NAME.json")
    args = parser.parse_args()
    graph = load_gowalla(args.data_dir).graph
    # Validation only after the last epoch: the figure is training time.
    config = TrainConfig(epochs=args.epochs, eval_every=args.epochs, popularity_prior=False)
    epoch_s: dict[int, list[float]] = {1: [], args.processes: []}
    overhead_s: dict[int, list[float]] = {1: [], args.processes: []}
    peaks = RssPeaks()
    for round_ in range(args.rounds):
        order = (1, args.processes) if round_ % 2 == 0 else (args.processes, 1)
        for processes in order:
            tick = time.perf_counter()
            result = train_data_parallel(graph, config, processes)
            total = time.perf_counter() - tick
            epochs = [row["seconds"] for row in result.history]
            epoch_s[processes].extend(epochs)
            overhead_s[processes].append(total - sum(epochs))
            print(f"{processes} process(es): epochs {[round(s, 1) for s in epochs]} s, "
                  f"rest of the call {total - sum(epochs):.1f} s", flush=True)  # fmt: skip
    n = args.processes
    median = {p: statistics.median(values) for p, values in epoch_s.items()}
    metrics = {
        "gowalla_cpu_s_per_epoch_1_process": median[1],
        f"gowalla_cpu_s_per_epoch_{n}_processes": median[n],
        f"gowalla_cpu_epoch_speedup_{n}_processes": median[1] / median[n],
        f"gowalla_cpu_call_overhead_s_{n}_processes": statistics.median(overhead_s[n]),
        "gowalla_cpu_call_overhead_s_1_process": statistics.median(overhead_s[1]),
    }
    metrics.update(peaks.metrics(n))
    details = {"epoch_seconds": epoch_s, "call_overhead_seconds": overhead_s}
    peaks.stop()
    print(f"wrote {write_result(args.name, metrics, details)}")


if __name__ == "__main__":
    main()
