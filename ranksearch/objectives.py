"""The minimised objectives of a search, and every cost a network is measured by: one registry.

Validation accuracy is always the maximised objective. Beside it, a search minimises the
objectives its configuration names (``params`` first, then any of ``flops``, ``latency``,
``latency-onnx``). Every registered objective is measured for every network before it trains
(its columns are in ``trials.csv`` either way), so the report can draw the front along each of
them, with two exceptions an objective declares: one ``on_request`` is measured only for the
searches that name it (it costs more than it tells when nobody minimises it: ONNX Runtime's
latency exports every network first), and one whose ``requires`` says a package is missing is
not measured at all (it writes no columns; a search that names it is refused in one line).

An objective is: how it is measured (``measure``: the built network, its input shape and the
device -> one value per column), the columns it writes (its own first), the report's axis
title for each, how the verdict writes a value, and the columns it records beside its costs
that are no cost (``recorded``: the threads a latency was measured with). Adding one is its
measuring function, one ``register(Objective(...))`` call, and its test. ``latency:eager`` and
``latency:onnx`` name the two latency objectives by their runtime (``ALIASES``).
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
    recorded: tuple[str, ...] = ()  # measured with it and written to trials.csv, but no cost (no axis, never minimised)
    on_request: bool = False  # measured only for a search that minimises it
    requires: Callable[[], str | None] | None = None  # why it cannot be measured here (a missing package), or None
    runtime: str = ""  # where it is measured, in words, for a latency: "ONNX Runtime (CPU execution provider)"

    def missing(self) -> str | None:
        """Why this objective cannot be measured in this environment, or None when it can."""
        return self.requires() if self.requires is not None else None

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
    """Every cost column the registered objectives write, in registry order."""
    return tuple(c for o in _REGISTRY.values() for c, _ in o.columns)


def recorded_columns() -> tuple[str, ...]:
    """Every column the registered objectives write: their costs, then what they record beside them."""
    return measured_columns() + tuple(c for o in _REGISTRY.values() for c in o.recorded)


ALIASES = {"latency:eager": "latency", "latency:onnx": "latency-onnx"}


def canonical_objectives(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``names`` with the runtime aliases (``latency:onnx``) replaced by the objectives they name."""
    return tuple(ALIASES.get(n, n) for n in names)


def axis_title(column: str) -> str:
    return next(t for o in _REGISTRY.values() for c, t in o.columns if c == column)


def check_objectives(names: tuple[str, ...]) -> None:
    """``params`` first, then distinct registered objectives; ValueError otherwise. (Whether they can be
    measured here is ``check_measurable``'s: a study's results read anywhere.)"""
    known, given = set(_REGISTRY), names
    names = canonical_objectives(names)
    if not names or names[0] != "params" or not set(names) <= known or len(set(names)) != len(names):
        others = " and ".join(n for n in _REGISTRY if n != "params")
        raise ValueError(f"objectives must be params first, optionally then {others}, each once (params,latency or, for "
                         f"ONNX Runtime's latency, params,latency:onnx); got {','.join(map(str, given))!r}")


def check_measurable(names: tuple[str, ...]) -> None:
    """UserError naming the first objective of ``names`` this machine cannot measure and what it lacks."""
    from ranksearch.errors import UserError

    for name in names:
        missing = get_objective(name).missing()
        if missing is not None:
            raise UserError(f"objective {name} cannot be measured on this machine: {missing}")


def measured(requested: tuple[str, ...] = ()) -> tuple[Objective, ...]:
    """The objectives measured for a search minimising ``requested``: all but those measured on
    request only (unless requested) and those that cannot be measured here."""
    return tuple(o for o in _REGISTRY.values() if (not o.on_request or o.name in requested) and o.missing() is None)


def measure_all(model: nn.Module, input_shape: tuple[int, int, int], device: torch.device,
                requested: tuple[str, ...] = ()) -> dict[str, float]:
    """The columns of every objective measured for a search minimising ``requested`` (``measured``)."""
    values: dict[str, float] = {}
    for objective in measured(requested):
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


def _latency_onnx(model: nn.Module, input_shape, device) -> dict[str, float]:
    from ranksearch.latency import measure_onnx_latency

    return measure_onnx_latency(model, input_shape)


def _onnx_missing() -> str | None:
    from ranksearch.onnx_io import missing_packages

    return missing_packages()


register(Objective(
    "params", (("trainable_params", "trainable parameters"), ("keras_params", "parameters, Keras convention")),
    _params, "{:,.0f} parameters",
))
register(Objective("flops", (("flops", "FLOPs: multiply-accumulates per image"),), _flops, "{:,.0f} FLOPs"))
register(Objective(
    "latency", (("latency_ms", "inference latency in PyTorch eager, ms per image at batch 1 (median)"),
                ("latency_ms_batch", "inference latency in PyTorch eager, ms per image at batch 256")),
    _latency, "{:.3f} ms per image", recorded=("latency_threads",),
    runtime="PyTorch eager (fp32, channels_last, on the device it trains on)",
))
register(Objective(
    "latency-onnx", (("latency_onnx_ms", "inference latency in ONNX Runtime (CPU), ms per image at batch 1 (median)"),
                     ("latency_onnx_ms_batch", "inference latency in ONNX Runtime (CPU), ms per image at batch 256")),
    _latency_onnx, "{:.3f} ms per image", recorded=("latency_onnx_threads",), on_request=True, requires=_onnx_missing,
    runtime="ONNX Runtime (CPU execution provider, fp32, the exported network)",
))


def measure_network(spec, device: torch.device, requested: tuple[str, ...] = ()) -> dict[str, float]:
    """The columns measured for the network ``spec`` describes, built fresh (known before training),
    in a search minimising ``requested``."""
    from lightlayers import build_model

    return measure_all(build_model(spec), (spec.in_channels, spec.image_size, spec.image_size), device, requested)
