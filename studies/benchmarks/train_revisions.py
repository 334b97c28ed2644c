"""``ranksearch train`` images/s at two git revisions, in one run: what a trainer change bought.

For each model of issue 26's table (MNIST Light k=4 and Conv2D with the paper recipe, batch 64;
CIFAR-10 Conv2D and Light k=3 with the fast recipe), and two a search on grey images trains
(Fashion-MNIST Conv2D and Light k=3, fast recipe), ``ranksearch train --json`` runs from a
worktree of each revision (``PYTHONPATH`` set to it, so this checkout's editable install is not
what runs), at the precision and thread count a user gets by default. The two revisions
alternate within each repeat (base, head; then head, base; ...), so a slow spell of the shared
machine falls on both, and the median of ``--repeats`` counts. The figure is the trainer's own
``images_per_second`` (training steps only), from the JSON line each run prints.

Each run trains ``--epochs`` epochs on a stratified ``--images``-image subset: throughput, not
accuracy (the parity table in RESULTS.md is trained in full). Nothing else may run meanwhile.

Run: python studies/benchmarks/train_revisions.py --data-dir ../shared/datasets [--base 8fc202d] [--head HEAD]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODELS = {  # name: the train flags that pick it
    "mnist light k=4 (paper)": ["--dataset", "mnist", "--family", "light", "--rank", "4", "--recipe", "paper"],
    "mnist conv (paper)": ["--dataset", "mnist", "--family", "conv", "--recipe", "paper"],
    "cifar10 conv (fast)": ["--dataset", "cifar10", "--family", "conv", "--recipe", "fast"],
    "cifar10 light k=3 (fast)": ["--dataset", "cifar10", "--family", "light", "--rank", "3", "--recipe", "fast"],
    # Not in the table: what a search on grey images trains (the fast recipe, bf16 where native).
    "fmnist conv (fast)": ["--dataset", "fashion-mnist", "--family", "conv", "--recipe", "fast"],
    "fmnist light k=3 (fast)": ["--dataset", "fashion-mnist", "--family", "light", "--rank", "3", "--recipe", "fast"],
}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def worktree(rev: str, root: Path) -> Path:
    path = root / rev.replace("/", "_")
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-f", str(path), rev], check=True,
                   capture_output=True)
    return path


def images_per_second(tree: Path, flags: list[str], args: argparse.Namespace) -> float:
    cmd = [sys.executable, "-m", "ranksearch", "train", *flags, "--data-dir", args.data_dir, "--epochs", str(args.epochs),
           "--train-subset", str(args.images), "--json"]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{tree.name}: {' '.join(flags)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["images_per_second"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="8fc202d")
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--data-dir", default=os.environ.get("RANKSEARCH_DATASETS", str(REPO.parent / "shared" / "datasets")))
    args = parser.parse_args()
    print(f"# {cpu_name()}, {os.cpu_count()} cores; base {args.base}, head {args.head}; "
          f"{args.repeats} repeats, {args.epochs} epoch(s) of {args.images:,} images")
    with tempfile.TemporaryDirectory() as tmp:
        trees = {rev: worktree(rev, Path(tmp)) for rev in (args.base, args.head)}
        try:
            seen: dict[tuple[str, str], list[float]] = {}
            for repeat in range(args.repeats):
                for name, flags in MODELS.items():
                    order = (args.base, args.head) if repeat % 2 == 0 else (args.head, args.base)
                    for rev in order:
                        ips = images_per_second(trees[rev], flags, args)
                        seen.setdefault((name, rev), []).append(ips)
                        print(f"repeat {repeat + 1} {name:26s} {rev:10s} {ips:9,.0f} images/s", flush=True)
            print(f"\n{'model':26s} {'base':>9s} {'head':>9s}  head/base  (medians, images/s)")
            for name in MODELS:
                base, head = (statistics.median(seen[(name, r)]) for r in (args.base, args.head))
                print(f"{name:26s} {base:9,.0f} {head:9,.0f}  {head / base:8.2f}x")
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)


if __name__ == "__main__":
    main()
