"""``nsga2``: Optuna's NSGA-II genetic algorithm."""

from __future__ import annotations

import optuna

from ranksearch.samplers import SAMPLERS


@SAMPLERS.register("nsga2")
def nsga2(seed: int | None, population_size: int = 10) -> optuna.samplers.BaseSampler:
    """Optuna's NSGA-II sampler.

    Args:
        population_size: candidates per generation.
    """
    if population_size < 2:
        raise ValueError("population_size must be >= 2")
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=population_size)
