"""Sampler kinds through what a search asks of them: queued networks first, then proposals."""

import optuna
import pytest

from ranksearch.samplers import SAMPLERS, make_sampler

QUEUED = [{"f": "a", "x": 3}, {"f": "b", "x": 1}]


def _objective(trial: optuna.Trial) -> tuple[float, float]:
    f = trial.suggest_categorical("f", ["a", "b", "c"])
    x = trial.suggest_int("x", 0, 9)
    return float(x), {"a": 1.0, "b": 2.0, "c": 3.0}[f]


def _study(sampler: optuna.samplers.BaseSampler, trials: int) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    for params in QUEUED:
        study.enqueue_trial(params)
    study.optimize(_objective, n_trials=trials)
    return study


@pytest.mark.parametrize("name", SAMPLERS.names())
def test_every_sampler_trains_the_queued_networks_first_then_proposes_in_the_space(name):
    study = _study(make_sampler(name, 0), 8)
    assert [t.params for t in study.trials[:2]] == QUEUED
    assert all(t.params["f"] in "abc" and 0 <= t.params["x"] <= 9 for t in study.trials[2:])


def test_nsga2_seeds_its_first_generation_with_the_queued_networks():
    """Optuna's NSGA-II leaves enqueued trials out of every generation; here they are its first
    population, so the first proposals are their children."""
    sampler = make_sampler("nsga2:population_size=2", 0)
    study = _study(sampler, 4)
    generations = [sampler.get_trial_generation(study, t) for t in study.trials]
    assert generations == [0, 0, 1, 1]
    plain = optuna.samplers.NSGAIISampler(seed=0, population_size=2)
    study = _study(plain, 4)
    assert [plain.get_trial_generation(study, t) for t in study.trials[2:]] == [0, 0]
