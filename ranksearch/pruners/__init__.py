"""Pruners for multi-objective rank searches: one small interface, one file per kind, one registry.

Optuna's pruners refuse multi-objective studies (``Trial.report`` and ``should_prune`` raise
NotImplementedError), so ranksearch has its own. A pruner answers ``prune(study, trial) ->
bool`` after each epoch of a running candidate, and after each check within an epoch that it
asks for (``checks``); raising ``optuna.TrialPruned`` then marks the trial PRUNED, which
multi-objective studies accept. It reads the networks' validation records through
``ranksearch.records`` (``trained``, ``trained_baselines``).

Adding a pruner is one file in this package that registers a class with ``@PRUNERS.register``:
its keyword arguments are its settings (``--pruner name:key=value``), its docstring's ``Args:``
says what they mean. Every module here is imported when the package is.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Protocol

import optuna

from ranksearch.kinds import Registry

PRUNERS = Registry("pruner")


class Pruner(Protocol):
    def prune(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        """True when the running ``trial`` should stop at the point it just reached."""

    def checks(self, epochs: int) -> tuple[float, ...]:
        """Points within epochs (such as 1/3) where the pruner wants a validation, for ``epochs`` of training."""


def check_pruner(text: str) -> None:
    PRUNERS.check(text)


def make_pruner(text: str) -> Pruner:
    """The pruner ``text`` names (``moasha`` or ``moasha:eta=3``)."""
    return PRUNERS.make(text)


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
