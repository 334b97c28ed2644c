"""Optuna samplers by name: one file per kind, one registry.

A sampler kind is a function of ``seed`` (each training process passes its own, or None for
its own random stream) whose keyword arguments are its settings (``--sampler
tpe:n_startup_trials=20``), documented in its ``Args:``. Adding one is one file in this package
that registers its function with ``@SAMPLERS.register``; every module here is imported when the
package is.
"""

from __future__ import annotations

import importlib
import pkgutil

import optuna

from ranksearch.kinds import Registry

SAMPLERS = Registry("sampler", fixed=("seed",))


def check_sampler(text: str) -> None:
    SAMPLERS.check(text)


def make_sampler(text: str, seed: int | None) -> optuna.samplers.BaseSampler:
    """The sampler ``text`` names (``tpe`` or ``tpe:n_startup_trials=20``), seeded with ``seed``."""
    return SAMPLERS.make(text, seed=seed)


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
