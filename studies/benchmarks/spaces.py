"""Which setting finds a front no baseline beats? Spaces, warm starts, samplers, starts: real searches, 3 seeds.

For each dataset, setting and seed, one real search with the defaults otherwise (the default
pruner, sampler and start, the fast recipe, every core busy), then: the front's hypervolume
against one reference point per dataset (the Conv2d baseline's parameters, accuracy 0), and
which baselines sit above the front: a baseline no complete candidate matches with as few
parameters and as much validation accuracy, leaving out the most accurate network of all (the
dense network, usually: nothing smaller can be expected to match it). Prints one line per search
and a summary per dataset and setting.

    python studies/benchmarks/spaces.py --data-dir ../shared/datasets --seeds 3 --settings "all,all + warm"
    python studies/benchmarks/spaces.py --seeds 3 --settings "tpe,nsga2,random,front-walk"
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ranksearch.config import DataConfig, SearchConfig, make_recipe
from ranksearch.progress import Progress
from ranksearch.results import Tables
from ranksearch.lifecycle import run_search

SETTINGS = {  # label -> settings that differ from the defaults
    "light": {"family": "light", "warm_start": False},
    "light + warm": {"family": "light"},
    "decef": {"family": "decef", "warm_start": False},
    "decef + warm": {"family": "decef"},
    "all": {"warm_start": False},
    "all + warm": {},
    "tpe": {"sampler": "tpe"},
    "nsga2": {"sampler": "nsga2"},
    "random": {"sampler": "random"},
    "front-walk": {"sampler": "front-walk"},
    "scratch": {"start": "scratch"},
}
DATASETS = {  # name -> (dataset, training images, epochs, budget)
    "fashion-mnist": ("fashion-mnist", 5000, 3, 20),
    "cifar10": ("cifar10", 5000, 5, 20),
}


def baselines_above(tables: Tables) -> list[str]:
    """Baselines that no complete candidate matches with no more parameters and no less validation accuracy,
    but the most accurate network of all."""
    complete = [r for r in tables.candidates if r.val_accuracy is not None]
    best = max((r.val_accuracy for r in complete + tables.references if r.val_accuracy is not None), default=None)
    return [
        b.family for b in tables.baselines
        if b.val_accuracy is not None and b.val_accuracy != best
        and not any(r.trainable_params <= b.trainable_params and r.val_accuracy >= b.val_accuracy for r in complete)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", default="../shared/datasets")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--settings", default="all,all + warm", help=f"comma-separated, of: {', '.join(SETTINGS)}")
    parser.add_argument("--out", help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args()
    chosen = [(label, SETTINGS[label]) for label in args.settings.split(",")]
    keep = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rs-spaces-"))
    keep.mkdir(parents=True, exist_ok=True)
    summary: dict[tuple[str, str], list[tuple[float, list[str]]]] = {}
    print(f"{'dataset':<14} {'setting':<13} {'seed':>4} {'hypervolume':>11} {'front':>5} {'best val':>8} {'baselines above':<26} {'wall s':>6}")
    for name in args.datasets.split(","):
        dataset, subset, epochs, budget = DATASETS[name]
        for seed in range(args.seeds):
            for label, settings in chosen:
                cfg = SearchConfig(
                    data=DataConfig(dataset=dataset, data_dir=args.data_dir, train_subset=subset),
                    recipe=make_recipe("fast", dataset, epochs), budget=budget, seed=seed,
                    study_name=f"{name}-{label}-{seed}".replace(" + ", "-"), **settings,
                )
                folder = keep / cfg.study_name
                t0 = time.perf_counter()
                with open(keep / f"{cfg.study_name}.log", "w") as log:
                    outcome = run_search(cfg, folder, Progress(log, live=False), jobs="auto")
                t = outcome.tables
                above = baselines_above(t)
                best = max((r.val_accuracy for r in t.front), default=float("nan"))
                summary.setdefault((name, label), []).append((t.hypervolume, above))
                print(f"{name:<14} {label:<13} {seed:>4} {t.hypervolume:>11.4f} {len(t.front):>5} {best:>8.4f} "
                      f"{','.join(above) or '-':<26} {time.perf_counter() - t0:>6.0f}", flush=True)
    print("\nsummary: mean hypervolume (min..max) and how many searches had a baseline above the front")
    for (name, label), results in summary.items():
        hvs = [hv for hv, _ in results]
        above = sum(bool(a) for _, a in results)
        print(f"{name:<14} {label:<13} {statistics.mean(hvs):.4f} ({min(hvs):.4f}..{max(hvs):.4f})  "
              f"baseline above the front in {above} of {len(results)}")
    print(f"run folders: {keep}")


if __name__ == "__main__":
    main()
