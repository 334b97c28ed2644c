"""Validation of a thin network: in the layout it trains in (NCHW) or channels_last, as ``trainer.evaluate`` does.

The trainer trains networks narrower than 64 channels NCHW (``trainer.memory_format``), but
evaluates every network channels_last, converting its weights for the pass and back. This times
both on 5,000 real validation images at the evaluation batch, bf16 where native, 3 interleaved
repeats, medians (RESULTS.md, "Memory format by width").

    python studies/benchmarks/eval_layout.py [--data-dir ../shared/datasets]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from lightlayers import build_model, uniform_spec
from ranksearch.config import DataConfig, make_recipe
from ranksearch.data import load_splits
from ranksearch.trainer import EVAL_BATCH, evaluate, memory_format, normalizer

CASES = [("cifar10", "residual", 3, 32, (8, 16, 32)), ("cifar10", "residual", 3, 32, (12, 24, 48)),
         ("fashion-mnist", "plain", 1, 28, (8, 16, 32))]


@torch.no_grad()
def evaluate_as_trained(model, x, y, normalize, dev, bf16) -> float:
    """The same pass in the network's own layout (the trainer's evaluation before it converted)."""
    model.eval()
    correct = 0
    with torch.autocast(dev.type, torch.bfloat16, enabled=bf16):
        for xb, yb in zip(x.split(EVAL_BATCH[dev.type]), y.split(EVAL_BATCH[dev.type])):
            logits = model(normalize(xb))
            correct += (logits.argmax(1) == yb).sum().item()
            F.cross_entropy(logits.float(), yb, reduction="sum").item()
    model.train()
    return correct / len(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", default=os.environ.get("RANKSEARCH_DATASETS", str(Path(__file__).resolve().parents[3] / "shared" / "datasets")))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device("cpu")
    print(f"torch {torch.__version__}, {args.threads} threads, 5,000 validation images, 3 interleaved repeats, medians")
    for dataset, arch, channels, size, widths in CASES:
        _, splits = load_splits(DataConfig(dataset, data_dir=args.data_dir))
        recipe = make_recipe("fast", dataset)
        bf16 = recipe.precision == "bf16"
        for family, rank in [("conv", None), ("light", 3)]:
            model = build_model(uniform_spec(arch, channels, size, splits.num_classes, widths, family, rank))
            fmt = memory_format(model, dev)
            model = model.to(memory_format=fmt)
            normalize = normalizer(splits, recipe, dev, fmt)
            x, y = splits.val_x[:5000], splits.val_y[:5000]
            ways = {"as trained": lambda: evaluate_as_trained(model, x, y, normalize, dev, bf16),
                    "channels_last": lambda: evaluate(model, x, y, normalize, dev, bf16)}
            seen: dict[str, list[float]] = {name: [] for name in ways}
            for repeat in range(3):
                for name in (list(ways) if repeat % 2 == 0 else list(reversed(ways))):
                    t0 = time.perf_counter()
                    ways[name]()
                    seen[name].append(time.perf_counter() - t0)
            a, b = (statistics.median(seen[name]) for name in ways)
            print(f"{dataset:14s} {str(widths):13s} {family:6s} trains {'NCHW' if fmt == torch.contiguous_format else 'channels_last'}: "
                  f"as trained {a:.2f} s, channels_last {b:.2f} s ({a / b:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
