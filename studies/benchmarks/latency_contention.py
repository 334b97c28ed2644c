"""Can a latency measurement tell that other work held the CPU, or be made to not care? Quiet and contended.

The search measures every network's latency in the job process that trains it; two runs on one
machine (or any other load) make those figures meaningless. Two candidate remedies, each measured
here under four loads, interleaved:

- a flag: the measuring process's CPU time over wall time x its threads, taken over the batch-1
  repeats (its CPU share);
- a ratio: each network's batch-1 time divided by a fixed reference network's (the dataset's Conv2d
  network), the two timed in alternation in the same repeats, so a load slows both alike.

Networks are timed as ``ranksearch.latency.measure_latency`` does (eval, fp32, channels_last,
batch 1, median of 15 after a warm-up): the paper's Conv2d, SeparableConv2d and rank-2 Light
networks, with 1 and 2 threads. Loads:

- quiet: nothing else running;
- spinners: two busy Python loops (a CPU-bound neighbour, one per core);
- matmul: one other process running 2-thread torch matrix products;
- run: two other processes each training the CIFAR-10 Conv2d network with one thread (another
  search's two jobs).

    python studies/benchmarks/latency_contention.py --rounds 3
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time

import torch

from lightlayers import build_model, reference_spec

FAMILIES = (("conv", None), ("separable", None), ("light", 2))  # the first is the reference of the ratio


def _spin() -> None:
    while True:
        pass


def _matmul() -> None:
    torch.set_num_threads(2)
    a = torch.randn(512, 512)
    while True:
        a = torch.tanh(a @ a.T / 512)


def _train_job() -> None:
    torch.set_num_threads(1)
    model = build_model(reference_spec("cifar10", "conv"))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
    while True:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def measure(models: list[torch.nn.Module], shape: tuple[int, int, int], threads: int,
            repeats: int = 15) -> tuple[list[float], float]:
    """Each network's median batch-1 latency in ms, the networks timed in alternation, and the CPU share:
    process CPU seconds / (wall seconds x threads) over all of it."""
    torch.set_num_threads(threads)
    one = torch.randn(1, *shape).contiguous(memory_format=torch.channels_last)
    times: list[list[float]] = [[] for _ in models]
    with torch.no_grad():
        for model in models:
            for _ in range(3):
                model(one)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(repeats):
            for i, model in enumerate(models):
                t0 = time.perf_counter()
                model(one)
                times[i].append(time.perf_counter() - t0)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return [1000 * statistics.median(t) for t in times], cpu / (wall * threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    shapes = {"fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
    models = {name: [build_model(reference_spec(name, family, rank)).to(memory_format=torch.channels_last).eval()
                     for family, rank in FAMILIES] for name in shapes}
    loads = {"quiet": [], "spinners": [_spin, _spin], "matmul": [_matmul], "run": [_train_job, _train_job]}
    cells: dict[tuple[str, str, int], list[tuple[list[float], float]]] = {}
    for r in range(args.rounds):
        for load, targets in loads.items():
            procs = [mp.Process(target=t, daemon=True) for t in targets]
            for p in procs:
                p.start()
            time.sleep(2.0 if procs else 0.0)
            for name, shape in shapes.items():
                for threads in (1, 2):
                    cells.setdefault((name, load, threads), []).append(measure(models[name], shape, threads))
            for p in procs:
                p.terminate()
                p.join()
        print(f"round {r + 1} of {args.rounds} done", flush=True)
    labels = [f"{f}{r or ''}" for f, r in FAMILIES]
    print(f"\ntorch {torch.__version__}, {args.rounds} rounds interleaved; medians over rounds; "
          f"ratio: the network's latency over {labels[0]}'s in the same repeats")
    print(f"{'network':<14} {'load':<9} {'threads':>7} {'CPU share':>9} "
          + " ".join(f"{lab + ' ms':>12}" for lab in labels) + " " + " ".join(f"{lab + ' ratio':>15}" for lab in labels[1:]))
    for (name, load, threads), values in cells.items():
        ms = [statistics.median(v[0][i] for v in values) for i in range(len(labels))]
        ratios = [statistics.median(v[0][i] / v[0][0] for v in values) for i in range(1, len(labels))]
        share = statistics.median(v[1] for v in values)
        print(f"{name:<14} {load:<9} {threads:>7} {share:>9.2f} " + " ".join(f"{m:>12.3f}" for m in ms) + " "
              + " ".join(f"{q:>15.2f}" for q in ratios))


if __name__ == "__main__":
    main()
