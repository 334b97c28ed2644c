"""Which default sampler? TPE, NSGA-II and random on the same budget, data and recipe.

Each sampler runs its own study (in memory) of the same search: the paper's five uniform Light
models enqueued first, then the sampler's own proposals, pruning off so every candidate is
judged on its final validation accuracy. Prints each study's hypervolume (log10 parameters x
validation accuracy, reference: the dense Conv2d's parameter count), the mean over seeds, and
as the last line the winner. Results on this machine: studies/benchmarks/RESULTS.md.

    python studies/benchmarks/samplers.py --data-dir ../shared/datasets --budget 20 --epochs 2 --train-subset 2000
"""

from __future__ import annotations

import argparse
import time

import optuna

from lightlayers import build_model, count_model, reference_spec
from ranksearch.config import DataConfig, SearchConfig, make_recipe
from ranksearch.data import load_splits
from ranksearch.progress import Progress
from ranksearch.results import hypervolume, study_tables
from ranksearch.samplers import make_sampler
from ranksearch.search import Search, quiet_optuna


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--data-dir", default="../shared/datasets")
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-subset", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    quiet_optuna()
    data = DataConfig(args.dataset, args.data_dir, train_subset=args.train_subset)
    _, splits = load_splits(data)
    ref = count_model(build_model(reference_spec(args.dataset, "conv"))).trainable_params
    results: dict[str, list[float]] = {}
    for sampler in ("tpe", "nsga2", "random"):
        for seed in range(args.seeds):
            cfg = SearchConfig(data, make_recipe("fast", args.dataset, args.epochs), budget=args.budget,
                               seed=seed, sampler=sampler, pruner="none", study_name=f"{sampler}-{seed}")
            study = optuna.create_study(directions=["maximize", "minimize"], sampler=make_sampler(sampler, seed))
            search = Search(study, cfg, splits, Progress(open("/dev/null", "w")), None)
            search.enqueue_paper_models()
            t0 = time.perf_counter()
            search.optimize(time.monotonic())
            rows = study_tables(study, cfg).candidates
            hv = hypervolume(rows, ref)
            results.setdefault(sampler, []).append(hv)
            print(f"{sampler:<7} seed {seed}: hypervolume {hv:.4f}  ({len(rows)} candidates, "
                  f"{time.perf_counter() - t0:.0f}s)", flush=True)
    means = {s: sum(v) / len(v) for s, v in results.items()}
    for s, m in means.items():
        print(f"{s:<7} mean hypervolume {m:.4f}")
    print(f"best: {max(means, key=means.get)}")


if __name__ == "__main__":
    main()
