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

    Never an empty front: at every rung the best ``max(1, n // eta)`` always go on, whatever
    dominates them. Beyond them, until ``eta`` candidates have reached a rung, only a baseline can
    stop one there: with ``baselines``, the baselines trained exactly as the candidates are known
    at every rung once recorded, and a candidate that one dominates there by ``epsilon`` stops.
    Baselines do not count among the ``n``. Never a dead network: a candidate at chance (within
    ``chance_margin`` of 1 / classes) at a rung after training began stops, whatever its size,
    unless no candidate at that rung did better (so the front is never empty).

    With ``zero_rung``, the first rung is 0, before a candidate that inherits a trained parent
    takes its first step, judged by ``zero_signal``: ``energy``, the mean share of the parent's
    spectral energy its layers keep (read off the weights, no training), or ``accuracy``, its
    validation accuracy right after the decomposition.

    Args:
        eta: the reduction factor: a third go on at each rung with 3.
        grace: the first rung, in epochs (a fraction is a check within the first epoch).
        epsilon: accuracy differences below this are ties.
        margin: the between-rungs margin (none: no stop between rungs).
        baselines: whether a baseline that dominates a candidate at a rung stops it.
        tie_break_from: candidates at a rung from which ties within a front are broken (none: never).
        zero_rung: a rung at 0, right after an inherited candidate's decomposition.
        zero_signal: what the rung at 0 compares: energy (kept of the parent's) or accuracy.
        chance_margin: a candidate this close to chance accuracy at a rung stops (none: never).
    """

    def __init__(self, eta: int = 3, grace: float = 1 / 3, epsilon: float = 0.03, margin: float | None = 0.05,
                 baselines: bool = True, tie_break_from: int | None = 12, zero_rung: bool = True,
                 zero_signal: str = "energy", chance_margin: float | None = 0.02) -> None:
        if eta < 2 or grace <= 0 or not 0 <= epsilon < 1:
            raise ValueError("eta must be >= 2, grace > 0 and epsilon between 0 and 1")
        if chance_margin is not None and not 0 <= chance_margin < 1:
            raise ValueError("chance_margin must be between 0 and 1")
        if zero_signal not in ("energy", "accuracy"):
            raise ValueError(f"zero_signal must be energy or accuracy, got {zero_signal!r}")
        self.zero_signal = zero_signal
        self.eta = eta
        self.grace = grace
        self.epsilon = epsilon
        self.margin = MarginPruner(margin=margin) if margin is not None else None
        self.baselines = baselines
        self.tie_break_from = tie_break_from
        self.zero_rung = zero_rung
        self.chance_margin = chance_margin

    def rungs(self, epochs: int) -> list[float]:
        """The rungs below the last epoch, each rounded as ``check_key`` names it."""
        found, rung = [0.0] if self.zero_rung else [], self.grace
        while rung < epochs - 1e-9:
            found.append(float(check_key(rung)) if rung != round(rung) else float(round(rung)))
            rung *= self.eta
        return found

    def checks(self, epochs: int) -> tuple[float, ...]:
        return tuple(r for r in self.rungs(epochs) if r != int(r) or r == 0)

    def _signal(self, at: float):
        """What a network is judged by at ``at``: its validation accuracy there; at 0, perhaps the energy it keeps."""
        if at == 0 and self.zero_signal == "energy":
            return lambda t: t.energy
        return lambda t: t.accuracy_at(at)

    def is_rung(self, at: float) -> bool:
        return any(abs(at - r) < 1e-6 for r in self.rungs(int(at) + 2))

    def prune(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        me = records.trained_of(trial)
        at = me.progress
        if self.margin is not None and self.margin.prune(study, trial):
            return True
        if not self.is_rung(at) or (at == 0 and not me.val_checks):
            return False
        signal = self._signal(at)
        mine = (me.trainable_params, signal(me))
        if mine[1] is None:
            return False
        others = [t for t in records.trained(study, (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED))
                  if t.number != trial.number and signal(t) is not None]
        points = [mine] + [(t.trainable_params, signal(t)) for t in others]
        if at > 0 and self.chance_margin is not None and me.num_classes and mine[1] <= 1 / me.num_classes + self.chance_margin \
                and any(p[1] > mine[1] for p in points[1:]):
            return True  # a dead network, whatever its size (unless nothing at this rung did better)
        keep = max(1, len(points) // self.eta)
        if self.tie_break_from is not None and len(points) >= self.tie_break_from:
            ahead = rung_order(points, self.epsilon).index(0)
        else:
            fronts = nondominated_fronts(points, self.epsilon)
            ahead = sum(1 for f in fronts[1:] if f < fronts[0])
        if ahead < keep:
            return False  # among the best 1/eta at this rung: never stopped, so the front is never empty
        if self.baselines and any(
            dominates((base.trainable_params, signal(base)), mine, self.epsilon)
            for base in records.trained_baselines(study) if signal(base) is not None
        ):
            return True
        return len(points) >= self.eta
