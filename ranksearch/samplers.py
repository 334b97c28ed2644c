"""Optuna samplers by name: the one place that says which a search may use and how each is set up."""

from __future__ import annotations

from typing import Callable

import optuna


def _tpe(seed: int | None) -> optuna.samplers.BaseSampler:
    # constant_liar: workers sampling while others train do not all propose the same point.
    # group: a layer's rank exists only for the family it chose; TPE models each such group jointly.
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=10, multivariate=True, group=True, constant_liar=True)


SAMPLERS: dict[str, Callable[[int | None], optuna.samplers.BaseSampler]] = {
    "tpe": _tpe,
    "nsga2": lambda seed: optuna.samplers.NSGAIISampler(seed=seed, population_size=10),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}


def check_sampler(name: str) -> None:
    if name not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {name!r}")


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    check_sampler(name)
    return SAMPLERS[name](seed)
