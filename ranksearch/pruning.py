"""Pruners for multi-objective rank searches: one small interface, one class each, chosen by name.

Optuna's pruners refuse multi-objective studies (``Trial.report`` and ``should_prune`` raise
NotImplementedError), so ranksearch has its own. A pruner answers ``prune(study, trial) ->
bool`` after each epoch of a running candidate; raising ``optuna.TrialPruned`` then marks the
trial PRUNED, which multi-objective studies accept. Every candidate keeps its learning curve
as the user attribute ``val_curve`` and its size as ``trainable_params``.
"""

from __future__ import annotations

from typing import Callable, Protocol

import optuna
from optuna.trial import FrozenTrial, TrialState


class Pruner(Protocol):
    def prune(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        """True when the running ``trial`` should stop after the epoch it just finished."""


def trained_candidates(study: optuna.Study, states: tuple[TrialState, ...]) -> list[FrozenTrial]:
    """Trials that trained (not duplicates, not surplus) in ``states``, with their curves."""
    return [
        t for t in study.get_trials(deepcopy=False, states=states)
        if "duplicate_of" not in t.user_attrs and "val_curve" in t.user_attrs
    ]


class NoPruner:
    """Train every candidate for all its epochs."""

    def prune(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        return False


class MarginPruner:
    """Prune at epoch t when a finished candidate with no more parameters was clearly better at t.

    Such a candidate cannot end on the front unless it overtakes a smaller network it trails at
    the same point of the same schedule.

    warmup_epochs: never prune at or before this epoch (first epochs are noisy).
    min_finished: act only once this many candidates have completed.
    margin: how much higher (absolute accuracy) a smaller network must be to count as clearly
        better; chosen by replaying the rule on a run trained without pruning
        (studies/fashion-mnist-light/RESULTS.md, "Pruning").
    """

    def __init__(self, warmup_epochs: int = 1, min_finished: int = 5, margin: float = 0.05) -> None:
        self.warmup_epochs = warmup_epochs
        self.min_finished = min_finished
        self.margin = margin

    def prune(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        attrs = trial.user_attrs
        curve = attrs.get("val_curve") or []
        epoch = len(curve)
        if epoch <= self.warmup_epochs:
            return False
        params = attrs["trainable_params"]
        finished = [t for t in trained_candidates(study, (TrialState.COMPLETE,)) if t.number != trial.number]
        if len(finished) < self.min_finished:
            return False
        return any(
            t.user_attrs["trainable_params"] <= params
            and len(t.user_attrs["val_curve"]) >= epoch
            and t.user_attrs["val_curve"][epoch - 1] >= curve[-1] + self.margin
            for t in finished
        )


def nondominated_fronts(points: list[tuple[float, float]]) -> list[int]:
    """The front index of each point (0: not dominated), both coordinates minimised."""
    fronts = [-1] * len(points)
    left = set(range(len(points)))
    level = 0
    while left:
        current = {
            i for i in left
            if not any(points[j][0] <= points[i][0] and points[j][1] <= points[i][1] and points[j] != points[i] for j in left)
        }
        for i in current:
            fronts[i] = level
        left -= current
        level += 1
    return fronts


class ParetoSuccessiveHalving:
    """Asynchronous successive halving for two objectives (anchor: Syne Tune's MOASHA).

    Rungs sit at epochs ``grace * eta**k`` below the last epoch (1, 3, 9 for 10 epochs). At a
    rung, the candidates that have reached it (running, pruned or complete) are sorted into
    non-dominated fronts by (trainable parameters, validation accuracy at that rung); a
    candidate continues only while fewer than ``max(1, n // eta)`` of the ``n`` are in better
    fronts than its own, so the top 1/eta go on. A candidate with fewer parameters than every
    other at its rung is never dominated, so it always continues, and until ``eta`` candidates
    have reached a rung everyone continues. Optuna's SuccessiveHalvingPruner is the one-objective form.
    """

    def __init__(self, eta: int = 3, grace: int = 1) -> None:
        self.eta = eta
        self.grace = grace

    def is_rung(self, epoch: int) -> bool:
        rung = self.grace
        while rung < epoch:
            rung *= self.eta
        return rung == epoch

    def prune(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        curve = trial.user_attrs.get("val_curve") or []
        epoch = len(curve)
        if not self.is_rung(epoch):
            return False
        others = [
            t for t in trained_candidates(study, (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED))
            if t.number != trial.number and len(t.user_attrs["val_curve"]) >= epoch
        ]
        if len(others) + 1 < self.eta:
            return False
        points = [(trial.user_attrs["trainable_params"], -curve[epoch - 1])] + [
            (t.user_attrs["trainable_params"], -t.user_attrs["val_curve"][epoch - 1]) for t in others
        ]
        fronts = nondominated_fronts(points)
        better = sum(1 for f in fronts[1:] if f < fronts[0])
        return better >= max(1, len(points) // self.eta)


PRUNERS: dict[str, Callable[[], Pruner]] = {
    "moasha": ParetoSuccessiveHalving,
    "margin": MarginPruner,
    "none": NoPruner,
}


def check_pruner(name: str) -> None:
    if name not in PRUNERS:
        raise ValueError(f"pruner must be one of {', '.join(PRUNERS)}, got {name!r}")


def make_pruner(name: str) -> Pruner:
    check_pruner(name)
    return PRUNERS[name]()
