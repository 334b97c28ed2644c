"""What would pruning have cost and saved? Replay the rule on a run trained without pruning.

A ``--no-pruning`` run keeps every candidate's full validation curve. Replaying the candidates
in trial order, ``ParetoPruner``'s rule is applied at each epoch against the candidates the
replay has finished so far, exactly as a live run would apply it. Each setting prints the
epochs it would have trained, the epochs it saves, the front members it would have cut, and
the hypervolume of what survives, against the hypervolume of the unpruned run. Unlike two
separate live runs, the comparison is not blurred by the sampler taking other paths.

    python studies/benchmarks/pruning_replay.py runs/fashion-mnist-light-nopruning
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from ranksearch.pruning import ParetoPruner
from ranksearch.results import hypervolume, pareto_front


class _Trial:
    """The few attributes ``ParetoPruner`` reads from an Optuna trial."""

    def __init__(self, number: int, params: int, curve: list[float]) -> None:
        self.number = number
        self.user_attrs = {"trainable_params": params, "val_curve": curve}


class _Replay:
    """The finished candidates of the replay, in the shape ``ParetoPruner`` asks a study for."""

    def __init__(self) -> None:
        self.finished: list[_Trial] = []

    def get_trials(self, deepcopy: bool = False, states=()) -> list[_Trial]:
        return self.finished


def replay(candidates: pd.DataFrame, pruner: ParetoPruner) -> tuple[list[dict], int, set[int]]:
    """(rows that complete, epochs trained, numbers pruned)."""
    study, rows, epochs, pruned = _Replay(), [], 0, set()
    for c in candidates.itertuples():
        curve = json.loads(c.val_curve)
        trial = _Trial(c.number, c.trainable_params, [])
        for value in curve:
            trial.user_attrs["val_curve"].append(value)
            epochs += 1
            if len(trial.user_attrs["val_curve"]) < len(curve) and pruner.prune(study, trial):
                pruned.add(c.number)
                break
        else:
            study.finished.append(trial)
            rows.append({"number": c.number, "trainable_params": c.trainable_params, "val_accuracy": curve[-1]})
    return rows, epochs, pruned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("run_dir", help="the --out folder of a run made with --no-pruning")
    args = parser.parse_args()
    trials = pd.read_csv(Path(args.run_dir) / "trials.csv")
    conv = int(trials.loc[trials.family == "conv", "trainable_params"].iloc[0])
    candidates = trials[(trials.role == "candidate") & (trials.state == "COMPLETE")].sort_values("number")
    full_rows = [
        {"number": c.number, "trainable_params": c.trainable_params, "val_accuracy": c.val_accuracy}
        for c in candidates.itertuples()
    ]
    full_front = {r["number"] for r in pareto_front(full_rows)}
    full_epochs = sum(len(json.loads(c)) for c in candidates.val_curve)
    print(f"{args.run_dir}: {len(candidates)} candidates, {full_epochs} epochs, front of {len(full_front)}, "
          f"hypervolume {hypervolume(full_rows, conv):.4f} without pruning")
    print(f"{'warmup':>6} {'margin':>6} {'pruned':>6} {'epochs':>6} {'saved':>6} {'front cut':>9} {'hypervolume':>11}")
    for warmup in (1, 2, 3):
        for margin in (0.01, 0.02, 0.03, 0.05):
            rows, epochs, pruned = replay(candidates, ParetoPruner(warmup_epochs=warmup, margin=margin))
            cut = len(pruned & full_front)
            print(f"{warmup:>6} {margin:>6.2f} {len(pruned):>6} {epochs:>6} {full_epochs - epochs:>6} "
                  f"{cut:>9} {hypervolume(rows, conv):>11.4f}")


if __name__ == "__main__":
    main()
