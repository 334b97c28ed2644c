"""``front-walk``: proposals that move locally around the front of what is known, between a base sampler's."""

from __future__ import annotations

import random
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial

from lightlayers import spec_from_dict

from ranksearch import records
from ranksearch.samplers import SAMPLERS
from ranksearch.samplers.tpe import tpe
from ranksearch.space import neighbour, params_for


class FrontWalkSampler(optuna.samplers.BaseSampler):
    """Half of the proposals (``local``) take a member of the current front and move one or two
    of its layers a step or two along the layer's options ordered by parameters (a cheaper
    layer, or a larger rank); the rest are the base sampler's (TPE). The front is that of every
    complete trial with parameters: candidates, and the parent-free baselines and queued networks
    the search trained first (the paper's models, warm starts), so the walk starts from what is
    known. A proposal already trained is left to the base sampler.
    """

    def __init__(self, seed: int | None, local: float, slots: int, base: optuna.samplers.BaseSampler) -> None:
        self._rng = random.Random(seed)
        self._local, self._slots, self._base = local, slots, base
        self._planned: dict[int, dict[str, Any]] = {}

    def reseed_rng(self) -> None:
        self._rng = random.Random()
        self._base.reseed_rng()

    def infer_relative_search_space(self, study, trial) -> dict[str, BaseDistribution]:
        return {} if trial.number in self._planned else self._base.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:
        return {} if trial.number in self._planned else self._base.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, name, distribution) -> Any:
        planned = self._planned.get(trial.number, {})
        if name in planned and distribution._contains(distribution.to_internal_repr(planned[name])):
            return planned[name]
        return self._base.sample_independent(study, trial, name, distribution)

    def before_trial(self, study, trial) -> None:
        self._base.before_trial(study, trial)
        if records.queued_params(trial) or self._rng.random() >= self._local:
            return
        plan = self._plan(study)
        if plan is not None:
            self._planned[trial.number] = plan

    def after_trial(self, study, trial, state, values) -> None:
        self._planned.pop(trial.number, None)
        self._base.after_trial(study, trial, state, values)

    def _plan(self, study: optuna.Study) -> dict[str, Any] | None:
        saved = records.saved_config(study) or {}
        space = saved.get("family")
        done = records.known_points(study)
        if not done or space is None:
            return None
        front = optuna.study._multi_objective._get_pareto_front_trials_by_trials(done, study.directions)
        tried = {tuple(sorted(t.params.items())) for t in study.get_trials(deepcopy=False)}
        for _ in range(20):
            member: FrozenTrial = self._rng.choice(front)
            spec = spec_from_dict(records.spec_of(member))
            params = params_for(spec, space, neighbour(spec, space, self._rng, self._slots))
            if tuple(sorted(params.items())) not in tried:
                return params
        return None


@SAMPLERS.register("front-walk")
def front_walk(seed: int | None, local: float = 0.5, slots: int = 2, n_startup_trials: int = 10) -> optuna.samplers.BaseSampler:
    """Local moves around the front of what is known, between TPE's proposals.

    Args:
        local: the share of proposals that move locally around the front.
        slots: at most this many layers change in a local move.
        n_startup_trials: TPE's random proposals before it models the trials.
    """
    if not 0 <= local <= 1 or slots < 1:
        raise ValueError("local must be between 0 and 1 and slots >= 1")
    return FrontWalkSampler(seed, local, slots, tpe(seed, n_startup_trials=n_startup_trials))
