"""Can a latency measurement tell that other work held the CPU? Its CPU share, quiet and contended.

The search measures every network's latency in the job process that trains it; two runs on one
machine (or any other load) make those figures meaningless. A candidate signal: the measuring
process's CPU time over wall time x its threads, taken over the batch-1 repeats. This times the
reference Conv2d networks as ``ranksearch.latency.measure_latency`` does (eval, fp32,
channels_last, batch 1, median of 15 after a warm-up) with 1 and 2 threads under three loads,
interleaved, and prints the median latency and the median CPU share of each cell:

- quiet: nothing else running;
- spinners: two busy Python loops (a CPU-bound neighbour, one per core);
- training: one other process running 2-thread torch matrix products (another run's job).

    python studies/benchmarks/latency_contention.py --rounds 3
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time

import torch

from lightlayers import build_model, reference_spec


def _spin() -> None:
    while True:
        pass


def _train_like() -> None:
    torch.set_num_threads(2)
    a = torch.randn(512, 512)
    while True:
        a = torch.tanh(a @ a.T / 512)


def measure(model: torch.nn.Module, shape: tuple[int, int, int], threads: int, repeats: int = 15) -> tuple[float, float]:
    """Median batch-1 latency in ms, and the CPU share: process CPU seconds / (wall seconds x threads)."""
    torch.set_num_threads(threads)
    one = torch.randn(1, *shape).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        for _ in range(3):
            model(one)
        times, cpu0, wall0 = [], time.process_time(), time.perf_counter()
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(one)
            times.append(time.perf_counter() - t0)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return 1000 * statistics.median(times), cpu / (wall * threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    models = {}
    for dataset, shape in (("fashion-mnist", (1, 28, 28)), ("cifar10", (3, 32, 32))):
        model = build_model(reference_spec(dataset, "conv")).to(memory_format=torch.channels_last).eval()
        models[dataset] = (model, shape)
    loads = {"quiet": [], "spinners": [_spin, _spin], "training": [_train_like]}
    cells: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    for r in range(args.rounds):
        for load, targets in loads.items():
            procs = [mp.Process(target=t, daemon=True) for t in targets]
            for p in procs:
                p.start()
            time.sleep(1.0 if procs else 0.0)
            for name, (model, shape) in models.items():
                for threads in (1, 2):
                    cells.setdefault((name, load, threads), []).append(measure(model, shape, threads))
            for p in procs:
                p.terminate()
                p.join()
        print(f"round {r + 1} of {args.rounds} done", flush=True)
    print(f"\ntorch {torch.__version__}, {args.rounds} rounds interleaved; medians over rounds")
    print(f"{'network':<14} {'load':<9} {'threads':>7} {'latency ms':>10} {'CPU share':>9}")
    for (name, load, threads), values in cells.items():
        ms = statistics.median(v[0] for v in values)
        share = statistics.median(v[1] for v in values)
        print(f"{name:<14} {load:<9} {threads:>7} {ms:>10.3f} {share:>9.2f}")


if __name__ == "__main__":
    main()
