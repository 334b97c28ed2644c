"""The minimised objectives of a search, and every cost a network is measured by: one registry.

Validation accuracy is always the maximised objective. Beside it, a search minimises the
objectives its configuration names (``params`` first, then any of ``flops``, ``latency``).
Every registered objective is measured for every network before it trains (its columns are
in ``trials.csv`` either way), so the report can draw the front along each of them.

An objective is: how it is measured (``measure``: the built network, its input shape and the
device -> one value per column), the columns it writes (its own first), the report's axis
title for each, and how the verdict writes a value. Adding one is its measuring function, one
``register(Objective(...))`` call, and its test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

Measure = Callable[[nn.Module, tuple[int, int, int], torch.device], dict[str, float]]


@dataclass(frozen=True)
class Objective:
    """One minimised cost of a network."""

    name: str  # as --objectives names it
    columns: tuple[tuple[str, str], ...]  # (trials.csv column, the report's axis title); the first is minimised
    measure: Measure
    unit: str  # how the verdict writes a value: "{:,.0f} parameters", "{:.3f} ms"

    @property
    def column(self) -> str:
        """The column the search minimises (a study's metric name)."""
        return self.columns[0][0]

    @property
    def axis(self) -> str:
        return self.columns[0][1]

    def words(self, value: float) -> str:
        return self.unit.format(value)


_REGISTRY: dict[str, Objective] = {}


def register(objective: Objective) -> Objective:
    if objective.name in _REGISTRY:
        raise ValueError(f"an objective named {objective.name!r} is already registered")
    _REGISTRY[objective.name] = objective
    return objective


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def get_objective(name: str) -> Objective:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown objective {name!r}; choose from {', '.join(_REGISTRY)}") from None


def objectives() -> tuple[Objective, ...]:
    return tuple(_REGISTRY.values())


def objective_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def measured_columns() -> tuple[str, ...]:
    """Every column the registered objectives write, in registry order."""
    return tuple(c for o in _REGISTRY.values() for c, _ in o.columns)


def axis_title(column: str) -> str:
    return next(t for o in _REGISTRY.values() for c, t in o.columns if c == column)


def check_objectives(names: tuple[str, ...]) -> None:
    """``params`` first, then distinct registered objectives; ValueError otherwise."""
    known = set(_REGISTRY)
    if not names or names[0] != "params" or not set(names) <= known or len(set(names)) != len(names):
        others = " and ".join(n for n in _REGISTRY if n != "params")
        raise ValueError(f"objectives must be params, optionally with {others} (params,latency); got {','.join(names)!r}")


def measure_all(model: nn.Module, input_shape: tuple[int, int, int], device: torch.device) -> dict[str, float]:
    """Every registered objective's columns for ``model``."""
    values: dict[str, float] = {}
    for objective in _REGISTRY.values():
        values.update(objective.measure(model, input_shape, device))
    return values


# -- the objectives ---------------------------------------------------------------------------
def _params(model: nn.Module, input_shape, device) -> dict[str, float]:
    from lightlayers import keras_params, trainable_params

    return {"trainable_params": trainable_params(model), "keras_params": keras_params(model)}


def _flops(model: nn.Module, input_shape, device) -> dict[str, float]:
    from lightlayers import flops

    return {"flops": flops(model, input_shape)}


def _latency(model: nn.Module, input_shape, device) -> dict[str, float]:
    from ranksearch.latency import measure_latency

    return measure_latency(model, input_shape, device)


register(Objective(
    "params", (("trainable_params", "trainable parameters"), ("keras_params", "parameters, Keras convention")),
    _params, "{:,.0f} parameters",
))
register(Objective("flops", (("flops", "FLOPs: multiply-accumulates per image"),), _flops, "{:,.0f} FLOPs"))
register(Objective(
    "latency", (("latency_ms", "inference latency, ms per image at batch 1 (median)"),
                ("latency_ms_batch", "inference latency, ms per image at batch 256")),
    _latency, "{:.3f} ms per image",
))


def measure_network(spec, device: torch.device) -> dict[str, float]:
    """Every registered column for the network ``spec`` describes, built fresh (known before training)."""
    from lightlayers import build_model

    return measure_all(build_model(spec), (spec.in_channels, spec.image_size, spec.image_size), device)
