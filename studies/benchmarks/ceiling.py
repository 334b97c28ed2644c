"""How far issue 26's 2.0x is from this CPU's arithmetic: the convolutions alone, against the trainer.

For each model of issue 26's table, the network's convolution and linear layers (every leaf
``nn.Conv2d`` and ``nn.Linear``, LightConv2d's and the separable layers' parts included) are timed
one at a time, forward and backward, at the input each one gets in the network at the recipe's
batch (64 on the CPU), in the layout and precision the trainer uses. Their sum is the time of a
step in which everything else (BatchNorm, ReLU, pooling, the loss, AdamW, augmentation, data) costs
nothing: an upper bound on images/s no trainer change can pass without faster convolutions. Then
``ranksearch train --json`` runs each model (``--epochs`` on a stratified ``--images`` subset) in
the same run (``--repeats`` times, the models interleaved; medians), and the table says how much of that bound the trainer reaches, and whether twice its
images/s (issue 26's goal, against a base as fast as today's: RESULTS.md) fits under it.

That bound holds for a step on every thread of one process. Issue 26 also names the layout of
processes on the cores: data-parallel training over one-thread processes, each taking half the
recipe's batch. Its bound is also printed: a whole training step (forward, backward, Adam; random
data, no augmentation) on one thread at half the batch, times the number of cores, as if the
processes shared nothing and their gradients were averaged for free.

Also printed: this machine's fp32 matrix-product rate (2048 x 2048, every thread), for scale.
Nothing else may run meanwhile.

Run: python studies/benchmarks/ceiling.py --data-dir ../shared/datasets
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext

import torch
from torch import nn

from lightlayers import build_model, reference_spec
from lightlayers.counting import flops
from ranksearch.config import make_recipe
from ranksearch.trainer import memory_format

MODELS = {  # name: (dataset, family, rank, recipe)
    "mnist light k=4 (paper)": ("mnist", "light", 4, "paper"),
    "mnist conv (paper)": ("mnist", "conv", None, "paper"),
    "cifar10 conv (fast)": ("cifar10", "conv", None, "fast"),
    "cifar10 light k=3 (fast)": ("cifar10", "light", 3, "fast"),
}
SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
BATCH = 64  # both recipes' batch on the CPU


def median_seconds(fn, repeats: int = 15, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops() -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    return 2 * 2048 ** 3 / median_seconds(lambda: a @ b, repeats=7, warmup=2) / 1e9


def layer_inputs(model: nn.Module, x: torch.Tensor) -> list[tuple[nn.Module, torch.Tensor, bool]]:
    """Every leaf conv / linear layer with the input it gets in one forward pass of ``x``, and whether
    that input is ``x`` itself (the data, which needs no gradient)."""
    seen: list[tuple[nn.Module, torch.Tensor, bool]] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: seen.append((mod, inp[0].detach(), inp[0] is x)))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


def layers_alone_seconds(model: nn.Module, x: torch.Tensor, precision: str) -> float:
    """Summed medians of each conv / linear layer's forward + backward at its own input."""
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
    total = 0.0
    for layer, inp, is_data in layer_inputs(model, x):
        inp = inp.clone().requires_grad_(not is_data)

        def step(layer=layer, inp=inp) -> None:
            with autocast:
                out = layer(inp)
            out.float().sum().backward()
        total += median_seconds(step)
    return total


def one_thread_step_images_per_second(model: nn.Module, x: torch.Tensor, precision: str) -> float:
    """A whole training step on one thread at ``x``'s batch: what one process of a data-parallel layout does."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        y = torch.randint(0, 10, (x.shape[0],))

        def step() -> None:
            with torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
                loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return x.shape[0] / median_seconds(step)
    finally:
        torch.set_num_threads(threads)


def trainer_images_per_second(dataset: str, family: str, rank: int | None, recipe: str,
                              args: argparse.Namespace) -> float:
    cmd = [sys.executable, "-m", "ranksearch", "train", "--dataset", dataset, "--family", family, "--recipe", recipe,
           "--data-dir", args.data_dir, "--epochs", str(args.epochs), "--train-subset", str(args.images), "--json"]
    if rank is not None:
        cmd += ["--rank", str(rank)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
    if done.returncode != 0:
        raise SystemExit(f"ceiling.py: {' '.join(cmd)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["images_per_second"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", default="../shared/datasets")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    precisions = {name: make_recipe(recipe, dataset).precision for name, (dataset, _, _, recipe) in MODELS.items()}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}; precision as each recipe "
          f"trains: {', '.join(f'{name} {p}' for name, p in precisions.items())}")
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"fp32 matrix product 2048 x 2048: {matmul_gflops():.0f} GFLOP/s")
    cores = os.cpu_count() or 1
    print("| model | MFLOP per training image | conv+linear alone, images/s | GFLOP/s | trainer, images/s "
          f"| share of the bound | 2x the trainer | {cores} x one-thread step at batch {BATCH // 2} |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    bounds: dict[str, list[float]] = {name: [] for name in MODELS}
    parallel: dict[str, list[float]] = {name: [] for name in MODELS}
    trainers: dict[str, list[float]] = {name: [] for name in MODELS}
    mflops: dict[str, float] = {}
    for _ in range(args.repeats):  # the models interleaved within each repeat: a slow spell falls on all
        for name, (dataset, family, rank, recipe) in MODELS.items():
            model = build_model(reference_spec(dataset, family, rank)).train()
            layout = memory_format(model, torch.device("cpu"))
            model = model.to(memory_format=layout)
            x = torch.randn(BATCH, *SHAPES[dataset]).contiguous(memory_format=layout)
            mflops[name] = 3 * 2 * flops(model, SHAPES[dataset]) / 1e6  # forward, plus a backward of twice its work
            bounds[name].append(BATCH / layers_alone_seconds(model, x, precisions[name]))
            parallel[name].append(cores * one_thread_step_images_per_second(model, x[:BATCH // 2], precisions[name]))
            trainers[name].append(trainer_images_per_second(dataset, family, rank, recipe, args))
    for name in MODELS:
        bound, trainer = statistics.median(bounds[name]), statistics.median(trainers[name])
        verdict = "above the bound" if 2 * trainer > bound else "under the bound"
        spread = statistics.median(parallel[name])
        print(f"| {name} | {mflops[name]:.1f} | {bound:,.0f} | {bound * mflops[name] / 1e3:.0f} | {trainer:,.0f} "
              f"| {trainer / bound:.0%} | {2 * trainer:,.0f}: {verdict} | {spread:,.0f} |")
    print(f"single runs (bound / trainer / {cores} x one thread): " + "; ".join(
        f"{name}: {' '.join(f'{b:.0f}' for b in bounds[name])} / {' '.join(f'{t:.0f}' for t in trainers[name])}"
        f" / {' '.join(f'{v:.0f}' for v in parallel[name])}" for name in MODELS))
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
