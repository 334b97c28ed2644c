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
keeps 45 % of the parameters), so more starts are allocated to a parameter budget (shares of the
trained network's parameters), as ALDS allocates ranks to a budget: each layer's family and rank chosen to keep
the most spectral energy summed over the layers. One energy level for every layer at the same
budget left some layers nearly dense and crushed others (the CIFAR-10 head to rank 3), 8 points
under the allocated start at a quarter of the parameters (studies/benchmarks/RESULTS.md, "Warm
starts at a budget").

One more start needs no energy: the SeparableConv2d network one step smaller, each convolution
separable where that has fewer parameters than the dense layer and dense where it does not (a
separable 1x1 convolution is a dense one with an extra per-channel scale), the head dense. It puts
a candidate at the small end, where the separable baseline sits, from the first proposals on.
"""

from __future__ import annotations

import optuna
from torch import nn

from lightlayers import LayerChoice, ModelSpec, Slot, energy_curve, get_family, rank_at

from ranksearch import storage
from ranksearch.config import WARM_SHARES as SHARES
from ranksearch.space import PAPER_RANKS, params_for, rank_range, slot_families, uniform_params

ENERGIES = (0.8, 0.9, 0.95, 0.99)
PER_CHANNEL = ("conv", "separable", "decef")  # families whose energy is read per input channel (or is all of it)


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
        self.classes = template.num_classes
        self.options = {slot.name: slot_families(slot, space) for slot in self.slots}
        self.weights = {slot.name: trained.get_submodule(slot.name).weight.detach() for slot in self.slots}
        self.total_params = sum(p.numel() for p in trained.parameters() if p.requires_grad)
        self.curves = {  # per input channel where the slot may be DeCEF, of the unfolded weight otherwise
            slot.name: energy_curve(self.weights[slot.name],
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
                    layers[slot.name] = LayerChoice("light", _clip(rank, rank_range(slot, "light", self.classes)))
            elif "decef" in options:
                if "conv" in options and rank > get_family("conv", "decef").break_even(slot.shape):
                    layers[slot.name] = LayerChoice("conv")
                elif "separable" in options and rank <= 1:
                    layers[slot.name] = LayerChoice("separable")
                else:
                    layers[slot.name] = LayerChoice("decef", _clip(rank, rank_range(slot, "decef", self.classes)))
            else:
                layers[slot.name] = LayerChoice("light", _clip(rank, rank_range(slot, "light", self.classes)))
        return layers

    def params(self, layers: dict[str, LayerChoice]) -> int:
        """Parameters of the factorisable layers with ``layers`` in them."""
        return sum(get_family(slot.kind, layers[slot.name].family).params(
            slot.shape, (layers[slot.name].rank,) if layers[slot.name].rank else ()) for slot in self.slots)

    @property
    def dense_params(self) -> int:
        """Parameters of the factorisable layers, all dense."""
        return self.params({s.name: LayerChoice("linear" if s.kind == "dense" else "conv") for s in self.slots})

    def budget(self, share: float) -> int:
        """The factorisable layers' parameters that leave the whole network at ``share`` of the trained
        network's trainable parameters (what the rest holds, BatchNorm and the like, stays)."""
        return int(share * self.total_params) - (self.total_params - self.dense_params)

    def choices(self, slot: Slot) -> list[tuple[int, float, LayerChoice]]:
        """(parameters, energy kept, choice) of every family and rank the space allows in ``slot``, keeping
        only those that keep more energy than every cheaper one, cheapest first.

        Energies compare only within one measure: where the slot may be DeCEF, the per-channel families
        (conv, separable, DeCEF); otherwise those of the unfolded weight. LightConv2d's whole-matrix
        energy beside DeCEF's per-channel one chose LightConv2d k=1 for the widest convolution and cost
        7 points at the separable network's size (studies/benchmarks/RESULTS.md, "Warm starts at a budget")."""
        families = self.options[slot.name]
        if slot.kind != "dense" and "decef" in families:
            families = tuple(f for f in families if f in PER_CHANNEL)
        every = []
        for family in families:
            fam = get_family(slot.kind, family)
            lo, hi = rank_range(slot, family, self.classes) if fam.takes_rank else (0, 0)
            ranks = range(lo, hi + 1) if fam.takes_rank else [None]
            for rank in ranks:
                r = (rank,) if rank is not None else ()
                every.append((fam.params(slot.shape, r), fam.energy_kept(self.weights[slot.name], r), LayerChoice(family, rank)))
        kept, best = [], -1.0
        for option in sorted(every, key=lambda o: (o[0], -o[1])):
            if option[1] > best + 1e-12:
                kept.append(option)
                best = option[1]
        return kept

    def layers_allocated(self, budget: int) -> dict[str, LayerChoice] | None:
        """Each slot's family and rank keeping the most energy, summed over slots, within ``budget``
        parameters: greedily, the step of most energy per parameter first, from each slot's cheapest
        choice (the energy kept is the zero-cost rung's signal, DECISIONS.md). None if even the
        cheapest choices exceed the budget."""
        options = {slot.name: self.choices(slot) for slot in self.slots}
        at = {name: 0 for name in options}
        spent = sum(o[0][0] for o in options.values())
        if spent > budget:
            return None
        while True:
            steps = []
            for name, opts in options.items():
                i = at[name]
                for j in range(i + 1, len(opts)):  # the best ratio reachable from here (the hull's next step)
                    cost, gain = opts[j][0] - opts[i][0], opts[j][1] - opts[i][1]
                    if spent + cost <= budget:
                        steps.append((gain / max(cost, 1), -cost, name, j))
            if not steps:
                break
            _, minus_cost, name, j = max(steps)
            spent -= minus_cost
            at[name] = j
        return {name: options[name][at[name]][2] for name in options}


def warm_layers(template: ModelSpec, space: str, trained: nn.Module, energy: float) -> dict[str, LayerChoice]:
    """Every slot's family and rank read off the trained dense network ``trained`` at ``energy``."""
    return Spectra(template, space, trained).layers_at(energy)


def warm_params(template: ModelSpec, space: str, trained: nn.Module,
                shares: tuple[float, ...] = SHARES) -> list[dict[str, object]]:
    """Trial parameters of the distinct warm-start candidates: the compact separable network, one per
    parameter share (of the trained network's trainable parameters), then one per energy level."""
    out: list[dict[str, object]] = []
    compact = compact_separable_layers(template, space)
    if compact is not None:
        out.append(params_for(template, space, compact))
    spectra = Spectra(template, space, trained)
    for layers in [spectra.layers_allocated(spectra.budget(share)) for share in shares] + \
            [spectra.layers_at(e) for e in ENERGIES]:
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


def queue_warm_starts(study: optuna.Study, template: ModelSpec, space: str, trained: nn.Module,
                      shares: tuple[float, ...] = SHARES) -> None:
    """Queue the warm starts read off the trained dense network; the report marks them."""
    warm = warm_params(template, space, trained, shares)
    for params in warm:
        study.enqueue_trial(params, skip_if_exists=True)
    storage.set_warm_starts(study, warm)
