"""``none``: train every candidate for all its epochs."""

from __future__ import annotations

import optuna

from ranksearch.pruners import PRUNERS


@PRUNERS.register("none")
class NoPruner:
    """Train every candidate for all its epochs.

    Args:
        checks: validations to record on the way without stopping anything, in epochs joined by
            ``+`` (``0+0.1111+0.3333``): how a benchmark measures which early signal ranks candidates.
    """

    def __init__(self, checks: str = "") -> None:
        try:
            self.at = tuple(sorted({round(float(c), 4) for c in checks.split("+") if c.strip()}))
        except ValueError:
            raise ValueError(f"checks must be epochs joined by +, such as 0+0.3333, got {checks!r}") from None
        if any(a < 0 for a in self.at):
            raise ValueError(f"checks must be epochs >= 0, got {checks!r}")

    def checks(self, epochs: int) -> tuple[float, ...]:
        return tuple(a for a in self.at if a < epochs and (a != int(a) or a == 0))

    def prune(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        return False
