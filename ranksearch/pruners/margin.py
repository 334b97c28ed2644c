"""``margin``: stop a candidate that a smaller finished candidate clearly beat at the same epoch."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from ranksearch import records
from ranksearch.pruners import PRUNERS


@PRUNERS.register("margin")
class MarginPruner:
    """Prune at epoch t when a finished candidate with no more parameters was clearly better at t.

    Such a candidate cannot end on the front unless it overtakes a smaller network it trails at
    the same point of the same schedule. Judges whole epochs only.

    Args:
        warmup_epochs: never prune at or before this epoch (first epochs are noisy).
        min_finished: act only once this many candidates have completed.
        margin: how much higher (absolute accuracy) a smaller network must be to count as clearly better.
    """

    def __init__(self, warmup_epochs: int = 1, min_finished: int = 5, margin: float = 0.05) -> None:
        if warmup_epochs < 0 or min_finished < 0 or not 0 <= margin <= 1:
            raise ValueError("warmup_epochs and min_finished must be >= 0 and margin between 0 and 1")
        self.warmup_epochs = warmup_epochs
        self.min_finished = min_finished
        self.margin = margin

    def checks(self, epochs: int) -> tuple[float, ...]:
        return ()

    def prune(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        mine = records.trained_of(trial)
        epoch = len(mine.val_curve)
        if mine.progress != epoch or epoch <= self.warmup_epochs:
            return False
        finished = [t for t in records.trained(study, (TrialState.COMPLETE,)) if t.number != trial.number]
        if len(finished) < self.min_finished:
            return False
        return any(
            t.trainable_params <= mine.trainable_params and len(t.val_curve) >= epoch
            and t.val_curve[epoch - 1] >= mine.val_curve[-1] + self.margin
            for t in finished
        )
