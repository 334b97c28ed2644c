"""``random``: independent uniform proposals."""

from __future__ import annotations

import optuna

from ranksearch.samplers import SAMPLERS


@SAMPLERS.register("random")
def random(seed: int | None) -> optuna.samplers.BaseSampler:
    """Optuna's random sampler: every proposal independent of the trials so far."""
    return optuna.samplers.RandomSampler(seed=seed)
