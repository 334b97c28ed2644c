"""``none``: train every candidate for all its epochs."""

from __future__ import annotations

import optuna

from ranksearch.pruners import PRUNERS


@PRUNERS.register("none")
class NoPruner:
    """Train every candidate for all its epochs."""

    def checks(self, epochs: int) -> tuple[float, ...]:
        return ()

    def prune(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        return False
