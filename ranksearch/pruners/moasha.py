"""``moasha``: asynchronous successive halving for two objectives, with the baselines at every rung."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from ranksearch import records
from ranksearch.curves import check_key
from ranksearch.pruners import PRUNERS
from ranksearch.pruners.fronts import dominates, nondominated_fronts, rung_order
from ranksearch.pruners.margin import MarginPruner


@PRUNERS.register("moasha")
class ParetoSuccessiveHalving:
    """Asynchronous successive halving for two objectives (anchor: Syne Tune's MOASHA), with a margin between rungs.

    Rungs sit at epochs ``grace * eta**k`` below the last epoch (1/3, 1, 3, 9 for 10 epochs; a
    rung within an epoch is a check, a validation partway, which the trainer makes on request).
    At a rung, the candidates that have reached it (running, pruned or complete) are sorted into
    non-dominated fronts by (trainable parameters, validation accuracy at that rung), a point
    dominating another only by at least ``epsilon`` of accuracy. Of the ``n`` there, the top
    ``max(1, n // eta)`` go on:

    - once ``tie_break_from`` candidates have reached the rung, strictly: a front is ordered by
      ``spread_order`` (its smallest network first, then its ends and sparse stretches), as
      MOASHA breaks ties, so a wide first front cannot carry everyone through;
    - before that, every candidate with fewer than ``max(1, n // eta)`` in better fronts goes
      on, the whole first front included. ``tie_break_from=none`` keeps this rule at every rung.

    Between rungs a candidate is also stopped when a finished candidate with no more parameters
    was ``margin`` more accurate at the same epoch (``MarginPruner``).

    A candidate with fewer parameters than every other network at its rung is never dominated
    and comes first in its front, so it always continues; until ``eta`` candidates have reached
    a rung, only a baseline can stop one there. With ``baselines``, the baselines (trained with
    the same recipe) are known at every rung once recorded: a candidate that a baseline
    dominates there by ``epsilon`` is stopped too. Baselines do not count among the ``n``.

    Args:
        eta: the reduction factor: a third go on at each rung with 3.
        grace: the first rung, in epochs (a fraction is a check within the first epoch).
        epsilon: accuracy differences below this are ties.
        margin: the between-rungs margin (none: no stop between rungs).
        baselines: whether a baseline that dominates a candidate at a rung stops it.
        tie_break_from: candidates at a rung from which ties within a front are broken (none: never).
    """

    def __init__(self, eta: int = 3, grace: float = 1 / 3, epsilon: float = 0.03, margin: float | None = 0.05,
                 baselines: bool = True, tie_break_from: int | None = 12) -> None:
        if eta < 2 or grace <= 0 or not 0 <= epsilon < 1:
            raise ValueError("eta must be >= 2, grace > 0 and epsilon between 0 and 1")
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
        me = records.trained_of(trial)
        at = me.progress
        if self.margin is not None and self.margin.prune(study, trial):
            return True
        if at <= 0 or not self.is_rung(at):
            return False
        mine = (me.trainable_params, me.accuracy_at(at))
        if self.baselines and any(
            dominates((base.trainable_params, base.accuracy_at(at)), mine, self.epsilon)
            for base in records.trained_baselines(study) if base.accuracy_at(at) is not None
        ):
            return True
        others = [t for t in records.trained(study, (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED))
                  if t.number != trial.number and t.accuracy_at(at) is not None]
        if len(others) + 1 < self.eta:
            return False
        points = [mine] + [(t.trainable_params, t.accuracy_at(at)) for t in others]
        keep = max(1, len(points) // self.eta)
        if self.tie_break_from is not None and len(points) >= self.tie_break_from:
            return rung_order(points, self.epsilon).index(0) >= keep
        fronts = nondominated_fronts(points, self.epsilon)
        better = sum(1 for f in fronts[1:] if f < fronts[0])
        return better >= keep
