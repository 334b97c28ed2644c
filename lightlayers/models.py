"""The paper's reference CNNs, built from a ModelSpec."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from lightlayers.spec import LayerChoice, ModelSpec, Slot
from lightlayers.thinning import state_widths, thin_state

if TYPE_CHECKING:  # lightlayers.network imports this module
    from lightlayers.network import NetworkSpec


def make_layer(slot: Slot, choice: LayerChoice) -> nn.Module:
    """The layer of ``choice``'s family with ``slot``'s shape, built by the family registry."""
    family = choice.family_for(slot)
    ranks = choice.ranks(slot)
    family.check(slot.shape, ranks, f"layer {slot.name}")
    return family.build(slot.shape, ranks)


class PlainBlock(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> ReLU -> maxpool2."""

    def __init__(self, conv1: nn.Module, conv2: nn.Module, width: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = conv1, nn.BatchNorm2d(width)
        self.conv2, self.bn2 = conv2, nn.BatchNorm2d(width)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        x = self.bn1(self.conv1(x)).relu()
        x = self.bn2(self.conv2(x)).relu()
        return self.pool(x)


class ResidualBlock(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus shortcut conv1x1 -> BN; add, ReLU, maxpool2."""

    def __init__(self, conv1: nn.Module, conv2: nn.Module, shortcut: nn.Module, width: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = conv1, nn.BatchNorm2d(width)
        self.conv2, self.bn2 = conv2, nn.BatchNorm2d(width)
        self.shortcut, self.shortcut_bn = shortcut, nn.BatchNorm2d(width)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        y = self.bn1(self.conv1(x)).relu()
        y = self.bn2(self.conv2(y))
        return self.pool((y + self.shortcut_bn(self.shortcut(x))).relu())


class ReferenceCNN(nn.Module):
    """Blocks ``block1..blockN``, global average pooling, and ``head``; module names match slots."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        layers = {s.name: make_layer(s, spec.layers[s.name]) for s in spec.slots()}
        for i, width in enumerate(spec.widths, start=1):
            conv1, conv2 = layers[f"block{i}.conv1"], layers[f"block{i}.conv2"]
            if spec.architecture == "residual":
                block = ResidualBlock(conv1, conv2, layers[f"block{i}.shortcut"], width)
            else:
                block = PlainBlock(conv1, conv2, width)
            self.add_module(f"block{i}", block)
        self.head = layers["head"]

    def forward(self, x):
        for i in range(1, len(self.spec.widths) + 1):
            x = getattr(self, f"block{i}")(x)
        return self.head(x.mean(dim=(2, 3)))


def spec_from_dict(data: dict) -> "ModelSpec | NetworkSpec":
    """Either model description from its JSON: a user's network names a ``source``, a reference network does not."""
    from lightlayers.network import NetworkSpec

    if not isinstance(data, dict):
        raise ValueError(f"a model spec must be a JSON object, got {type(data).__name__}")
    return NetworkSpec.from_dict(data) if "source" in data else ModelSpec.from_dict(data)


def build_model(spec: "ModelSpec | NetworkSpec | dict | str | Path") -> nn.Module:
    """The ``nn.Module`` a spec describes: a reference network, or a user's network with layers replaced.

    Also takes the spec's JSON dict, or a whole ranksearch configuration (a dict with a
    ``"model"`` key, as ``ranksearch export`` writes), or the path of a JSON file holding either,
    so an exported point builds directly.
    """
    from lightlayers.network import NetworkSpec, build_network

    if isinstance(spec, (str, Path)):  # a JSON file: a spec's, or an exported point's
        spec = json.loads(Path(spec).read_text())
    if isinstance(spec, dict):
        spec = spec_from_dict(spec["model"] if "model" in spec else spec)
    if isinstance(spec, NetworkSpec):
        return build_network(spec)
    return ReferenceCNN(spec)


def inherit(spec: "ModelSpec | NetworkSpec", dense_state: Mapping[str, torch.Tensor]) -> nn.Module:
    """The network ``spec`` describes, started from a trained dense network: compression, not training from scratch.

    ``dense_state`` is the state_dict of the same network with every slot dense (conv / linear), or,
    for a reference network, of one at least as wide (``thin_state`` keeps its strongest channels).
    Its dense layers and everything outside the slots (BatchNorm, other layers) are copied; every
    replaced layer starts from the dense layer it replaces, by its family's ``init_from_dense``
    (``factorize(init="svd")``). At full rank a family that can be exact computes the dense
    network's function. A state that does not fit, or holds NaN or infinities, is a ValueError.
    """
    from lightlayers.factorize import replace_planned

    try:
        if isinstance(spec, ModelSpec):  # a thinner reference network keeps the parent's strongest channels
            dense_state = thin_state(spec, dense_state)
    except (ValueError, KeyError, IndexError) as e:
        raise ValueError(f"the parent's weights do not fit this network: {e}") from None
    dense = _dense_network(spec, dense_state)
    slots = {s.name: s for s in spec.slots()}
    plan = []
    for name, choice in spec.layers.items():
        if choice.family not in ("conv", "linear"):
            slot = slots[name]  # a spec's slot may be a 1x1 convolution (a shortcut), which factorize would not list
            family, ranks = choice.family_for(slot), choice.ranks(slot)
            family.check(slot.shape, ranks, f"layer {name}")
            plan.append((name, family, slot.shape, ranks))
    model = replace_planned(dense, plan, "svd")
    model.spec = spec
    return model


def parent_network(spec: "ModelSpec | NetworkSpec", dense_state: Mapping[str, torch.Tensor]) -> nn.Module:
    """The trained dense network ``spec`` inherits from (what ``inherit`` decomposes), as it was trained:
    every slot dense, at the state's widths for a reference network. A teacher for the inherited one."""
    if isinstance(spec, ModelSpec):
        spec = replace(spec, widths=state_widths(dense_state) or spec.widths)
    return _dense_network(spec, dense_state)


def _dense_network(spec: "ModelSpec | NetworkSpec", dense_state: Mapping[str, torch.Tensor]) -> nn.Module:
    """``spec`` with every slot dense, holding ``dense_state``; a state that does not fit is a ValueError."""
    from lightlayers.network import NetworkSpec

    dense_spec = spec.with_layers({s.name: LayerChoice("linear" if s.kind == "dense" else "conv") for s in spec.slots()})
    if isinstance(dense_spec, NetworkSpec):
        dense_spec = replace(dense_spec, weights=None)
    model = build_model(dense_spec)
    try:
        model.load_state_dict(dense_state)
    except RuntimeError as e:
        raise ValueError(f"the parent's weights do not fit this network: {str(e).splitlines()[0]}") from None
    return model


def energy_kept(spec: "ModelSpec | NetworkSpec", dense_state: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Each slot's share of the trained dense network's spectral energy that ``spec``'s layer there keeps
    (``Family.energy_kept``; 1 for a dense layer): read off the weights alone, before any training.
    In a thinner reference network, each layer keeps only its kept channels' share of the energy."""
    thin = thin_state(spec, dense_state) if isinstance(spec, ModelSpec) else dense_state
    kept = {}
    for slot in spec.slots():
        choice = spec.layers.get(slot.name) or LayerChoice("linear" if slot.kind == "dense" else "conv")
        full, weight = dense_state[f"{slot.name}.weight"], thin[f"{slot.name}.weight"]
        share = float(weight.double().square().sum() / full.double().square().sum().clamp_min(1e-300))
        kept[slot.name] = share * choice.family_for(slot).energy_kept(weight, choice.ranks(slot))
    return kept
