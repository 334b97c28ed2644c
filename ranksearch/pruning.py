"""Pruners for multi-objective rank searches: one small interface, one class each, chosen by name.

Optuna's pruners refuse multi-objective studies (``Trial.report`` and ``should_prune`` raise
NotImplementedError), so ranksearch has its own. A pruner answers ``prune(study, trial) ->
bool`` after each epoch of a running candidate, and after each check within an epoch that it
asks for (``checks``); raising ``optuna.TrialPruned`` then marks the trial PRUNED, which
multi-objective studies accept. Every candidate keeps its learning curve as the user attribute
``val_curve`` (one accuracy per epoch), its checks within epochs as ``val_checks``
(``ranksearch.curves``) and its size as ``trainable_params``.
"""

from __future__ import annotations

import math
from typing import Callable, Protocol

import optuna
from optuna.trial import FrozenTrial, TrialState

from ranksearch.curves import accuracy_at, check_key, progress


class Pruner(Protocol):
    def prune(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        """True when the running ``trial`` should stop at the point it just reached (``progress``)."""

    def checks(self, epochs: int) -> tuple[float, ...]:
        """Points within epochs (such as 1/3) where the pruner wants a validation, for ``epochs`` of training."""


def _record(attrs: dict) -> tuple[list[float], dict[str, float]]:
    """(curve, checks) of a trial's or baseline's attributes."""
    return attrs.get("val_curve") or [], attrs.get("val_checks") or {}


def trained_candidates(study: optuna.Study, states: tuple[TrialState, ...]) -> list[FrozenTrial]:
    """Trials that trained (not duplicates, not surplus) in ``states``, with their curves."""
    return [
        t for t in study.get_trials(deepcopy=False, states=states)
        if "duplicate_of" not in t.user_attrs and "val_curve" in t.user_attrs
    ]


class NoPruner:
    """Train every candidate for all its epochs."""

    def checks(self, epochs: int) -> tuple[float, ...]:
        return ()

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

    def checks(self, epochs: int) -> tuple[float, ...]:
        return ()

    def prune(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        attrs = trial.user_attrs
        curve = attrs.get("val_curve") or []
        epoch = len(curve)
        if progress(*_record(attrs)) != epoch or epoch <= self.warmup_epochs:
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


def trained_baselines(study: optuna.Study) -> list[dict]:
    """The record of each baseline the study trained with the candidates' recipe (``trainable_params``,
    ``val_curve``, ``val_checks``).

    The search stores them as study attributes ``baseline:<family>``; a user's network as given
    (``baseline:given``) was measured, not trained, so it has no curve to compare at a rung.
    """
    return [
        a for key, a in study.user_attrs.items()
        if key.startswith("baseline:") and isinstance(a, dict) and a.get("family") != "given"
    ]


def dominates(a: tuple[float, float], b: tuple[float, float], epsilon: float = 0.0) -> bool:
    """(parameters, accuracy) ``a`` has no more parameters than ``b`` and at least ``epsilon`` more
    accuracy, and is strictly better in one of the two: differences within ``epsilon`` are noise."""
    return a[0] <= b[0] and a[1] >= b[1] + epsilon and (a[0] < b[0] or a[1] > b[1])


def nondominated_fronts(points: list[tuple[float, float]], epsilon: float = 0.0) -> list[int]:
    """The front index of each (parameters, accuracy) point (0: not dominated), by ``dominates``."""
    fronts = [-1] * len(points)
    left = set(range(len(points)))
    level = 0
    while left:
        current = {i for i in left if not any(dominates(points[j], points[i], epsilon) for j in left if j != i)}
        for i in current:
            fronts[i] = level
        left -= current
        level += 1
    return fronts


def spread_order(points: list[tuple[float, float]]) -> list[int]:
    """Indices of ``points`` (one front) in the order that spreads them along it: the smallest
    network first, then each time the point farthest from those already taken (an epsilon-net, as
    Syne Tune's MOASHA orders a front). Distances are in log parameters and accuracy, each scaled
    to its range, so the ends of a front and its sparse stretches come before a crowded middle."""
    if not points:
        return []
    xs = [math.log(max(p[0], 1)) for p in points]
    ys = [p[1] for p in points]
    sx, sy = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    scaled = [(x / sx, y / sy) for x, y in zip(xs, ys)]
    order = [min(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))]
    nearest = [math.dist(scaled[i], scaled[order[0]]) for i in range(len(points))]
    while len(order) < len(points):
        pick = max((i for i in range(len(points)) if i not in order), key=lambda i: nearest[i])
        order.append(pick)
        nearest = [min(nearest[i], math.dist(scaled[i], scaled[pick])) for i in range(len(points))]
    return order


def rung_order(points: list[tuple[float, float]], epsilon: float = 0.0) -> list[int]:
    """Indices of (parameters, accuracy) ``points`` best first: by non-dominated front, and
    within a front by ``spread_order``. Ties never let more than the top places through."""
    fronts = nondominated_fronts(points, epsilon)
    order: list[int] = []
    for level in range(max(fronts, default=-1) + 1):
        members = [i for i, f in enumerate(fronts) if f == level]
        order += [members[j] for j in spread_order([points[i] for i in members])]
    return order


class ParetoSuccessiveHalving:
    """Asynchronous successive halving for two objectives (anchor: Syne Tune's MOASHA), with a margin between rungs.

    Rungs sit at epochs ``grace * eta**k`` below the last epoch (1/3, 1, 3, 9 for 10 epochs; a
    rung within an epoch is a check, a validation partway, which the trainer makes on request). At a
    rung, the candidates that have reached it (running, pruned or complete) are sorted into
    non-dominated fronts by (trainable parameters, validation accuracy at that rung), a point
    dominating another only by at least ``epsilon`` of accuracy. Of the ``n`` there, the top
    ``max(1, n // eta)`` go on:

    - once ``tie_break_from`` candidates have reached the rung, strictly: a front is ordered by
      ``spread_order`` (its smallest network first, then its ends and sparse stretches), as
      MOASHA breaks ties, so a wide first front cannot carry everyone through;
    - before that, every candidate with fewer than ``max(1, n // eta)`` in better fronts goes
      on, the whole first front included: among a rung's first few, often the search's queued
      reference networks, an order within a front says little. ``tie_break_from=None`` keeps
      this rule at every rung.

    Between rungs a candidate is also stopped when a finished candidate with no more parameters
    was ``margin`` more accurate at the same epoch (``MarginPruner``).

    A candidate with fewer parameters than every other network at its rung (baselines included)
    is never dominated and comes first in its front, so it always continues; until ``eta``
    candidates have reached a rung, only a baseline can stop one there.
    The Conv2d and SeparableConv2d baselines, trained with the same recipe before the candidates
    (with several jobs, each job trains one and then candidates, so one baseline may still be
    training when the first candidates reach a rung), are known at every rung once recorded
    (``baselines``): a candidate that a baseline dominates there by
    ``epsilon`` is stopped too, even among the first candidates, which successive halving alone
    must let through. A user picks from the front of candidates and baselines, and a candidate
    a baseline beats early rarely joins it. Baselines do not count among the ``n``.
    ``epsilon``, ``margin`` and ``tie_break_from`` were chosen by replaying runs trained without
    pruning (studies/benchmarks/RESULTS.md, "Pruning"). Optuna's SuccessiveHalvingPruner is the
    one-objective form.
    """

    def __init__(self, eta: int = 3, grace: float = 1 / 3, epsilon: float = 0.03, margin: float | None = 0.05,
                 baselines: bool = True, tie_break_from: int | None = 12) -> None:
        self.eta = eta
        self.grace = grace
        self.epsilon = epsilon
        self.margin = MarginPruner(margin=margin) if margin is not None else None
        self.baselines = baselines
        self.tie_break_from = tie_break_from

    def rungs(self, epochs: int) -> list[float]:
        """The rungs below the last epoch, each rounded as ``check_key`` names it."""
        found, rung = [], self.grace
        while rung < epochs - 1e-9:
            found.append(float(check_key(rung)) if rung != round(rung) else float(round(rung)))
            rung *= self.eta
        return found

    def checks(self, epochs: int) -> tuple[float, ...]:
        return tuple(r for r in self.rungs(epochs) if r != int(r))

    def is_rung(self, at: float) -> bool:
        return any(abs(at - r) < 1e-6 for r in self.rungs(int(at) + 2))

    def prune(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        at = progress(*_record(trial.user_attrs))
        if self.margin is not None and self.margin.prune(study, trial):
            return True
        if at <= 0 or not self.is_rung(at):
            return False
        mine = (trial.user_attrs["trainable_params"], accuracy_at(*_record(trial.user_attrs), at))
        if self.baselines and any(
            dominates((base["trainable_params"], accuracy_at(*_record(base), at)), mine, self.epsilon)
            for base in trained_baselines(study) if accuracy_at(*_record(base), at) is not None
        ):
            return True
        others = [
            t for t in trained_candidates(study, (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED))
            if t.number != trial.number and accuracy_at(*_record(t.user_attrs), at) is not None
        ]
        if len(others) + 1 < self.eta:
            return False
        points = [mine] + [(t.user_attrs["trainable_params"], accuracy_at(*_record(t.user_attrs), at)) for t in others]
        keep = max(1, len(points) // self.eta)
        if self.tie_break_from is not None and len(points) >= self.tie_break_from:
            return rung_order(points, self.epsilon).index(0) >= keep
        fronts = nondominated_fronts(points, self.epsilon)
        better = sum(1 for f in fronts[1:] if f < fronts[0])
        return better >= keep


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
