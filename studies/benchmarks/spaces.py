"""Which setting finds a front no baseline beats? Spaces, warm starts, samplers, starts: real searches, 3 seeds.

For each dataset, setting and seed, one real search with the defaults otherwise (the default
pruner, sampler and start, the fast recipe, every core busy), then: the front's hypervolume
against one reference point per dataset (the Conv2d baseline's parameters, accuracy 0), and
which baselines sit above the front: a baseline no complete candidate matches with as few
parameters and as much validation accuracy, leaving out the most accurate network of all (the
dense network, usually: nothing smaller can be expected to match it). Prints one line per search
and a summary per dataset and setting, then how far each baseline is from the best complete
candidate with no more parameters (validation points; "none": no complete candidate that small).
``--read`` prints the same for run folders kept with ``--out``, without training anything.

    python studies/benchmarks/spaces.py --data-dir ../shared/datasets --seeds 3 --settings "all,all + warm"
    python studies/benchmarks/spaces.py --seeds 3 --settings "tpe,nsga2,random,front-walk" --out runs/spaces
    python studies/benchmarks/spaces.py --read runs/spaces
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ranksearch.api import load
from ranksearch.config import DataConfig, SearchConfig, make_recipe
from ranksearch.progress import Progress
from ranksearch.results import Tables
from ranksearch.lifecycle import run_search
from ranksearch.verdict import verdict

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
    "first-rung-1": {"pruner": "moasha:grace=1"},  # no rung a third into a one-epoch fine-tune (its schedule's peak)
}
DATASETS = {  # name -> (dataset, training images, epochs, budget)
    "fashion-mnist": ("fashion-mnist", 5000, 3, 20),
    "cifar10": ("cifar10", 5000, 5, 20),
}


def margins(tables: Tables) -> dict[str, float | None]:
    """Each baseline but the most accurate network of all -> the best validation accuracy of a complete
    candidate with no more parameters, minus the baseline's (None: no complete candidate that small)."""
    complete = [r for r in tables.candidates if r.val_accuracy is not None]
    best = max((r.val_accuracy for r in complete + tables.references if r.val_accuracy is not None), default=None)
    out: dict[str, float | None] = {}
    for b in tables.baselines:
        if b.val_accuracy is None or b.val_accuracy == best:
            continue
        smaller = [r.val_accuracy for r in complete if r.trainable_params <= b.trainable_params]
        out[b.family] = max(smaller) - b.val_accuracy if smaller else None
    return out


def baselines_above(tables: Tables) -> list[str]:
    """Baselines that no complete candidate matches with no more parameters and no less validation accuracy,
    but the most accurate network of all."""
    return [name for name, m in margins(tables).items() if m is None or m < 0]


def _cell(margin: float | None) -> str:
    return "none" if margin is None else f"{100 * margin:+.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", default="../shared/datasets")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--settings", default="all,all + warm", help=f"comma-separated, of: {', '.join(SETTINGS)}")
    parser.add_argument("--out", help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--read", help="summarise the run folders kept here by an earlier --out instead of running")
    args = parser.parse_args()
    if args.read:
        read(Path(args.read))
        return
    chosen = [(label, SETTINGS[label]) for label in args.settings.split(",")]
    keep = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rs-spaces-"))
    keep.mkdir(parents=True, exist_ok=True)
    summary: dict[tuple[str, str], list[tuple[float, list[str]]]] = {}
    gaps: list[tuple[str, dict[str, float | None]]] = []
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
                gaps.append((cfg.study_name, margins(t)))
                print(f"{name:<14} {label:<13} {seed:>4} {t.hypervolume:>11.4f} {len(t.front):>5} {best:>8.4f} "
                      f"{','.join(above) or '-':<26} {time.perf_counter() - t0:>6.0f}", flush=True)
    print("\nsummary: mean hypervolume (min..max) and how many searches had a baseline above the front")
    for (name, label), results in summary.items():
        hvs = [hv for hv, _ in results]
        above = sum(bool(a) for _, a in results)
        print(f"{name:<14} {label:<13} {statistics.mean(hvs):.4f} ({min(hvs):.4f}..{max(hvs):.4f})  "
              f"baseline above the front in {above} of {len(results)}")
    print_margins(gaps)
    print(f"run folders: {keep}")


def print_margins(gaps: list[tuple[str, dict[str, float | None]]]) -> None:
    names = list(dict.fromkeys(name for _, m in gaps for name in m))
    print("\nthe best complete candidate with no more parameters than each baseline, validation points against it")
    print(f"{'search':<28} " + " ".join(f"{n:>10}" for n in names))
    for study, m in gaps:
        print(f"{study:<28} " + " ".join(f"{_cell(m[n]) if n in m else '-':>10}" for n in names))


def said_by_verdict(result) -> list[str]:
    """The baselines a run's verdict says the search did not beat, but the most accurate network of all."""
    v = verdict(result.tables, result.config)
    top = v.most_accurate.key if v.most_accurate else None
    return [u.baseline.family for u in v.unbeaten if u.baseline.key != top]


def read(folder: Path) -> None:
    """The per-search lines and the margins of the run folders below ``folder``, in name order, and whether
    each run's verdict names the same baselines as not beaten."""
    gaps, agree, runs = [], 0, 0
    print(f"{'search':<28} {'hypervolume':>11} {'front':>5} {'best val':>8} {'trained':>7} baselines above")
    for run in sorted(p.parent for p in folder.glob("*/study.db")):
        result = load(run)
        t = result.tables
        trained = sum(r.val_accuracy is not None for r in t.candidates)
        best = max((r.val_accuracy for r in t.front), default=float("nan"))
        print(f"{run.name:<28} {t.hypervolume:>11.4f} {len(t.front):>5} {best:>8.4f} {trained:>7} "
              f"{','.join(baselines_above(t)) or '-'}")
        gaps.append((run.name, margins(t)))
        runs += 1
        agree += sorted(said_by_verdict(result)) == sorted(baselines_above(t))
    print_margins(gaps)
    print(f"\nthe verdict names the same baselines as not beaten at their size in {agree} of {runs} searches")


if __name__ == "__main__":
    main()
