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

Energy levels alone leave the small end empty (on a trained ResNet-20 the lowest level, 0.8,
keeps 45 % of the parameters), so two more starts are read at the energy level that fits a
parameter share of the dense layers (a quarter, and about a third), as ALDS allocates ranks to
a budget (with one level for every layer where ALDS optimises each layer's).

One more start needs no energy: the SeparableConv2d network one step smaller, each convolution
separable where that has fewer parameters than the dense layer and dense where it does not (a
separable 1x1 convolution is a dense one with an extra per-channel scale), the head dense. It puts
a candidate at the small end, where the separable baseline sits, from the first proposals on.
"""

from __future__ import annotations

import optuna
from torch import nn

from lightlayers import LayerChoice, ModelSpec, energy_curve, get_family, rank_at

from ranksearch import storage
from ranksearch.space import PAPER_RANKS, params_for, rank_range, slot_families, uniform_params

ENERGIES = (0.8, 0.9, 0.95, 0.99)
SHARES = (0.25, 0.35)  # of the dense network's layer parameters: starts where compression is asked for
BISECTION_STEPS = 12


def _clip(value: int, bounds: tuple[int, int]) -> int:
    return min(max(value, bounds[0]), bounds[1])


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


class Spectra:
    """The trained dense network's energy curves, read once: each slot's family and rank at any energy
    level, and the level that fits a parameter share."""

    def __init__(self, template: ModelSpec, space: str, trained: nn.Module) -> None:
        self.slots = template.slots()
        self.options = {slot.name: slot_families(slot, space) for slot in self.slots}
        self.curves = {  # per input channel where the slot may be DeCEF, of the unfolded weight otherwise
            slot.name: energy_curve(trained.get_submodule(slot.name).weight,
                                    per_channel=slot.kind != "dense" and "decef" in self.options[slot.name])
            for slot in self.slots}

    def layers_at(self, energy: float) -> dict[str, LayerChoice]:
        """Every slot's family and rank at ``energy``."""
        layers = {}
        for slot in self.slots:
            options, rank = self.options[slot.name], rank_at(self.curves[slot.name], energy)
            if slot.kind == "dense":
                if "linear" in options and rank > get_family("dense", "light").break_even(slot.shape):
                    layers[slot.name] = LayerChoice("linear")
                else:
                    layers[slot.name] = LayerChoice("light", _clip(rank, rank_range(slot, "light")))
            elif "decef" in options:
                if "conv" in options and rank > get_family("conv", "decef").break_even(slot.shape):
                    layers[slot.name] = LayerChoice("conv")
                elif "separable" in options and rank <= 1:
                    layers[slot.name] = LayerChoice("separable")
                else:
                    layers[slot.name] = LayerChoice("decef", _clip(rank, rank_range(slot, "decef")))
            else:
                layers[slot.name] = LayerChoice("light", _clip(rank, rank_range(slot, "light")))
        return layers

    def params(self, layers: dict[str, LayerChoice]) -> int:
        """Parameters of the factorisable layers with ``layers`` in them."""
        return sum(get_family(slot.kind, layers[slot.name].family).params(
            slot.shape, (layers[slot.name].rank,) if layers[slot.name].rank else ()) for slot in self.slots)

    def layers_within(self, share: float) -> dict[str, LayerChoice] | None:
        """The highest energy level's layers holding at most ``share`` of the dense layers' parameters
        (bisection on the level), or None when even the lowest ranks hold more."""
        dense = self.params({s.name: LayerChoice("linear" if s.kind == "dense" else "conv") for s in self.slots})
        lo, hi, best = 0.0, 1.0, None
        for _ in range(BISECTION_STEPS):
            energy = (lo + hi) / 2
            layers = self.layers_at(energy)
            if self.params(layers) <= share * dense:
                lo, best = energy, layers
            else:
                hi = energy
        return best


def warm_layers(template: ModelSpec, space: str, trained: nn.Module, energy: float) -> dict[str, LayerChoice]:
    """Every slot's family and rank read off the trained dense network ``trained`` at ``energy``."""
    return Spectra(template, space, trained).layers_at(energy)


def warm_params(template: ModelSpec, space: str, trained: nn.Module) -> list[dict[str, object]]:
    """Trial parameters of the distinct warm-start candidates: the compact separable network, one per
    parameter share, then one per energy level."""
    out: list[dict[str, object]] = []
    compact = compact_separable_layers(template, space)
    if compact is not None:
        out.append(params_for(template, space, compact))
    spectra = Spectra(template, space, trained)
    for layers in [spectra.layers_within(share) for share in SHARES] + [spectra.layers_at(e) for e in ENERGIES]:
        if layers is None:
            continue
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
