"""What would a pruner have cost and saved? Replay it on a run trained without pruning.

A run made with ``--pruner none`` keeps every candidate's full validation curve. The replay
feeds the candidates, in trial order, into a real (in-memory) Optuna study, one epoch at a
time, and asks the pruner after each epoch exactly as a live one-job run would. Each setting
prints the candidate-epochs it would have trained and saved, the front members it would have
cut, and the hypervolume of what survives against that of the unpruned run. Unlike two live
runs, the comparison is not blurred by the sampler taking other paths.

    python studies/benchmarks/pruning_replay.py studies/fashion-mnist-light-nopruning studies/cifar10-nopruning
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import optuna
import pandas as pd

from ranksearch.curves import check_key
from ranksearch.pruners import Pruner
from ranksearch.pruners.margin import MarginPruner
from ranksearch.pruners.moasha import ParetoSuccessiveHalving
from ranksearch.pruners.none import NoPruner
from ranksearch.rows import Record as Row
from ranksearch.results import hypervolume, pareto_front

SETTINGS: list[tuple[str, Pruner]] = [
    ("none", NoPruner()),
    ("margin 0.05", MarginPruner(margin=0.05)),
    ("margin 0.02", MarginPruner(margin=0.02)),
    ("SH eta 3", ParetoSuccessiveHalving(grace=1, eta=3, epsilon=0.0, margin=None, baselines=False, tie_break_from=None)),
    ("SH eta 2", ParetoSuccessiveHalving(grace=1, eta=2, epsilon=0.0, margin=None, baselines=False, tie_break_from=None)),
    ("SH eta 3, grace 2", ParetoSuccessiveHalving(eta=3, grace=2, epsilon=0.0, margin=None, baselines=False, tie_break_from=None)),
    ("SH eta 3, eps 0.03", ParetoSuccessiveHalving(grace=1, eta=3, epsilon=0.03, margin=None, baselines=False, tie_break_from=None)),
    ("SH eta 3, eps 0.03 + margin 0.05", ParetoSuccessiveHalving(grace=1, eta=3, epsilon=0.03, margin=0.05, baselines=False, tie_break_from=None)),
    ("  + baselines at the rungs", ParetoSuccessiveHalving(grace=1, eta=3, epsilon=0.03, margin=0.05, baselines=True, tie_break_from=None)),
    ("  + ties broken from 9 at a rung", ParetoSuccessiveHalving(grace=1, tie_break_from=9)),
    ("    (ties broken from 6)", ParetoSuccessiveHalving(grace=1, tie_break_from=6)),
    ("    (ties broken from 12)", ParetoSuccessiveHalving(grace=1, tie_break_from=12)),
    ("    (ties always broken)", ParetoSuccessiveHalving(grace=1, tie_break_from=0)),
    ("  + a first rung at 1/3 epoch", ParetoSuccessiveHalving(grace=1 / 3, tie_break_from=9)),
    ("    (first rung at 2/3; then 2, 6)", ParetoSuccessiveHalving(grace=2 / 3, tie_break_from=9)),
    ("    (at 1/3, ties broken from 6)", ParetoSuccessiveHalving(grace=1 / 3, tie_break_from=6)),
    ("    (at 1/3, ties broken from 12)", ParetoSuccessiveHalving(grace=1 / 3, tie_break_from=12)),
    ("    (at 1/3, ties broken from 15)", ParetoSuccessiveHalving(grace=1 / 3, tie_break_from=15)),
    ("moasha (the default)", ParetoSuccessiveHalving()),
]


def _row(number: int, params: int, acc: float) -> Row:
    return Row("candidate", "", number, "COMPLETE", {"layers": {}}, {"trainable_params": params, "keras_params": params,
               "flops": 0}, val_curve=[acc])


def read_checks(run_dir: Path) -> dict[str, dict[str, float]]:
    """Accuracy within the first epoch from ``early_checks.csv`` (``early_checks.py``), by trial
    number or baseline family; empty where the run folder has none."""
    path = run_dir / "early_checks.csv"
    if not path.is_file():
        return {}
    checks = {}
    for r in pd.read_csv(path, dtype={"number": str}).to_dict("records"):
        who = r["family"] if r["role"] == "baseline" else str(int(float(r["number"])))
        checks[who] = {check_key(at): float(r[column]) for at, column in ((1 / 3, "val_1/3"), (2 / 3, "val_2/3"))}
    return checks


def replay(candidates: pd.DataFrame, baselines: pd.DataFrame, pruner: Pruner,
           checks: dict[str, dict[str, float]] | None = None) -> tuple[list[Row], float, set[int]]:
    """(rows that complete, epochs trained, numbers pruned). The baselines are trained before
    the candidates, as in a live run, and stored as the search stores them. A pruner that asks
    for checks within an epoch gets them from ``checks``; without them it cannot act there."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    checks = checks or {}
    study = optuna.create_study(directions=["maximize", "minimize"])
    for b in baselines.itertuples():
        study.set_user_attr(f"baseline:{b.family}", {"family": b.family, "trainable_params": int(b.trainable_params),
                                                    "val_curve": json.loads(b.val_curve),
                                                    "val_checks": checks.get(b.family, {})})
    rows, epochs, pruned = [], 0.0, set()
    for c in candidates.itertuples():
        curve = json.loads(c.val_curve)
        mine = checks.get(str(int(c.number)), {})
        points = sorted([float(e) for e in range(1, len(curve) + 1)] + [a for a in pruner.checks(len(curve)) if check_key(a) in mine])
        trial = study.ask()
        trial.set_user_attr("trainable_params", int(c.trainable_params))
        trial.set_user_attr("val_curve", [])
        done = 0.0
        for at in points:
            if at == int(at):
                trial.set_user_attr("val_curve", curve[:int(at)])
            else:
                trial.set_user_attr("val_checks", {k: v for k, v in mine.items() if float(k) <= at})
            epochs += at - done
            done = at
            if at < len(curve) and pruner.prune(study, trial):
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                pruned.add(int(c.number))
                break
        else:
            study.tell(trial, [curve[-1], int(c.trainable_params)])
            rows.append(_row(int(c.number), int(c.trainable_params), curve[-1]))
    return rows, epochs, pruned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("run_dirs", nargs="+", help="run folders made with --pruner none (or the old --no-pruning)")
    args = parser.parse_args()
    for run_dir in args.run_dirs:
        trials = pd.read_csv(Path(run_dir) / "trials.csv")
        conv = int(trials.loc[trials.family == "conv", "trainable_params"].iloc[0])
        candidates = trials[(trials.role == "candidate") & (trials.state == "COMPLETE")].sort_values("number")
        baselines = trials[trials.role == "baseline"]
        base_rows = [_row(-1, int(b.trainable_params), float(b.val_accuracy)) for b in baselines.itertuples()]
        checks = read_checks(Path(run_dir))
        full_rows, full_epochs, _ = replay(candidates, baselines, NoPruner())
        full_front = {r.number for r in pareto_front(full_rows)}
        full_hv, full_hv_all = hypervolume(full_rows, conv), hypervolume(full_rows + base_rows, conv)
        print(f"{run_dir}: {len(candidates)} candidates, {full_epochs} candidate-epochs, front of {len(full_front)}, "
              f"hypervolume {full_hv:.4f} without pruning ({full_hv_all:.4f} with the baselines)")
        print(f"{'pruner':<40} {'pruned':>6} {'epochs':>6} {'saved':>6} {'saved %':>7} {'front cut':>9} {'hypervolume':>11} "
              f"{'of none':>7} {'with baselines':>14}")
        for name, pruner in SETTINGS:
            rows, epochs, pruned = replay(candidates, baselines, pruner, checks)
            hv, hv_all = hypervolume(rows, conv), hypervolume(rows + base_rows, conv)
            print(f"{name:<40} {len(pruned):>6} {epochs:>6.1f} {full_epochs - epochs:>6.1f} {100 * (full_epochs - epochs) / full_epochs:>6.1f}% "
                  f"{len(pruned & full_front):>9} {hv:>11.4f} {100 * hv / full_hv:>6.2f}% {100 * hv_all / full_hv_all:>13.2f}%")
        print()


if __name__ == "__main__":
    main()
