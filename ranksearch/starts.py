"""Where a search starts: the paper's uniform models, and warm starts read off the trained dense network.

The paper's uniform-rank Light models (reference networks, from scratch: the paper's setting) are
queued first. Under ``--start parent`` they are not: inherited, they stay far below the warm starts
read off the same parent (RESULTS.md, "The paper's models under a parent start").

DeCEF's observation: the effective rank of trained Conv2d filters (how many eigen-filters per
input channel hold a share of the spectral energy) falls with depth. At a few energy levels,
each layer of the trained baseline gives a rank, and so a whole candidate: DeCEF ranks where
the space has DeCEF (the dense convolution kept where DeCEF would not save parameters,
separable where one eigen-filter is enough), LightConv2d ranks from the rank of the unfolded
kernel in a LightConv2d-only space, and LightLinear ranks from the head's singular values.

One more start needs no energy: the SeparableConv2d network one step smaller, each convolution
separable where that has fewer parameters than the dense layer and dense where it does not (a
separable 1x1 convolution is a dense one with an extra per-channel scale), the head dense. It puts
a candidate at the small end, where the separable baseline sits, from the first proposals on.
"""

from __future__ import annotations

import optuna
from torch import nn

from lightlayers import LayerChoice, ModelSpec, effective_rank, energy_rank, get_family

from ranksearch import storage
from ranksearch.space import PAPER_RANKS, params_for, rank_range, slot_families, uniform_params

ENERGIES = (0.8, 0.9, 0.95, 0.99)


def _clip(value: int, bounds: tuple[int, int]) -> int:
    return min(max(value, bounds[0]), bounds[1])


def warm_layers(template: ModelSpec, space: str, trained: nn.Module, energy: float) -> dict[str, LayerChoice]:
    """Every slot's family and rank read off the trained dense network ``trained`` at ``energy``."""
    layers = {}
    for slot in template.slots():
        weight = trained.get_submodule(slot.name).weight
        options = slot_families(slot, space)
        if slot.kind == "dense":
            k = energy_rank(weight, energy)
            if "linear" in options and k > get_family("dense", "light").break_even(slot.shape):
                layers[slot.name] = LayerChoice("linear")
            else:
                layers[slot.name] = LayerChoice("light", _clip(k, rank_range(slot, "light")))
        elif "decef" in options:
            r = effective_rank(weight, energy)
            if "conv" in options and r > get_family("conv", "decef").break_even(slot.shape):
                layers[slot.name] = LayerChoice("conv")
            elif "separable" in options and r <= 1:
                layers[slot.name] = LayerChoice("separable")
            else:
                layers[slot.name] = LayerChoice("decef", _clip(r, rank_range(slot, "decef")))
        else:
            layers[slot.name] = LayerChoice("light", _clip(energy_rank(weight, energy), rank_range(slot, "light")))
    return layers


def compact_separable_layers(template: ModelSpec, space: str) -> dict[str, LayerChoice] | None:
    """The separable network with each slot's cheaper of separable and dense; None if the space lacks either."""
    layers = {}
    for slot in template.slots():
        options = slot_families(slot, space)
        if slot.kind == "dense":
            if "linear" not in options:
                return None
            layers[slot.name] = LayerChoice("linear")
            continue
        if "separable" not in options or "conv" not in options:
            return None
        cheaper = get_family("conv", "separable").params(slot.shape, ()) < get_family("conv", "conv").params(slot.shape, ())
        layers[slot.name] = LayerChoice("separable" if cheaper else "conv")
    if all(c.family != "conv" for c in layers.values()):
        return None  # no slot where dense is cheaper: the separable baseline itself
    return layers


def warm_params(template: ModelSpec, space: str, trained: nn.Module) -> list[dict[str, object]]:
    """Trial parameters of the distinct warm-start candidates: the compact separable network, then one per energy level."""
    out: list[dict[str, object]] = []
    compact = compact_separable_layers(template, space)
    if compact is not None:
        out.append(params_for(template, space, compact))
    for energy in ENERGIES:
        layers = warm_layers(template, space, trained, energy)
        if all(c.family in ("conv", "linear") for c in layers.values()):
            continue  # the Conv2d baseline itself, trained already
        params = params_for(template, space, layers)
        if params not in out:
            out.append(params)
    return out


def queue_paper_models(study: optuna.Study, template: ModelSpec, space: str) -> None:
    """Queue the paper's uniform-rank models first, once per study."""
    if storage.paper_models_queued(study):
        return
    for rank in PAPER_RANKS:
        study.enqueue_trial(uniform_params(template, space, rank), skip_if_exists=True)
    storage.set_paper_models_queued(study)


def queue_warm_starts(study: optuna.Study, template: ModelSpec, space: str, trained: nn.Module) -> None:
    """Queue the warm starts read off the trained dense network; the report marks them."""
    warm = warm_params(template, space, trained)
    for params in warm:
        study.enqueue_trial(params, skip_if_exists=True)
    storage.set_warm_starts(study, warm)
