"""``nsga2``: Optuna's NSGA-II genetic algorithm, its first generation seeded with the queued networks."""

from __future__ import annotations

import optuna

from ranksearch import records
from ranksearch.samplers import SAMPLERS


class SeededNSGAII(optuna.samplers.NSGAIISampler):
    """NSGA-II whose population holds the networks queued for it (warm starts, baselines that are points
    of the space). Optuna's own gives an enqueued trial no generation, so its first population is
    random proposals only and the warm starts never become parents."""

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if records.queued_params(trial):
            self.get_trial_generation(study, trial)  # joins the generation being filled, as a proposal would
        super().before_trial(study, trial)


@SAMPLERS.register("nsga2")
def nsga2(seed: int | None, population_size: int = 10) -> optuna.samplers.BaseSampler:
    """Optuna's NSGA-II sampler, with the queued networks in its population.

    Args:
        population_size: candidates per generation.
    """
    if population_size < 2:
        raise ValueError("population_size must be >= 2")
    return SeededNSGAII(seed=seed, population_size=population_size)
