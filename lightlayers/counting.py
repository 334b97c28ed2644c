"""Parameters (PyTorch and Keras conventions) and FLOPs, per layer and for a whole model."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from lightlayers.decef_conv import DeCEFConv2d
from lightlayers.light_linear import LightLinear
from lightlayers.spec import LayerChoice


def trainable_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def keras_params(module: nn.Module) -> int:
    """Trainable parameters plus BatchNorm's moving mean and variance, as Keras (and the paper) count."""
    moving = sum(
        m.running_mean.numel() + m.running_var.numel()
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    )
    return trainable_params(module) + moving


def flops_by_module(model: nn.Module, input_shape: tuple[int, int, int]) -> dict[str, int]:
    """Multiply-accumulates for one image of ``input_shape`` (C, H, W), per leaf module name.

    Convention: one FLOP is one multiply-accumulate of a convolution or a linear layer
    (``nn.Conv2d``, ``nn.Linear``, ``LightLinear``; a ``DeCEFConv2d`` as its two factor
    convolutions, whichever way it runs). Biases, BatchNorm, activations, pooling and
    additions are not counted; they are a few per output element and the same for every
    family, so they would only blur the comparison.
    """
    counts: dict[str, int] = {}
    hooks = []

    def conv_hook(name):
        def hook(mod: nn.Conv2d, inputs, output):
            per_output = (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
            counts[name] = output[0].numel() * per_output
        return hook

    def decef_hook(name):
        def hook(mod: DeCEFConv2d, inputs, output):
            positions = output[0, 0].numel()
            counts[name] = positions * mod.in_channels * mod.rank * (mod.kernel_size**2 + mod.out_channels)
        return hook

    def linear_hook(name):
        def hook(mod, inputs, output):
            if isinstance(mod, LightLinear):
                counts[name] = mod.rank * (mod.in_features + mod.out_features)
            else:
                counts[name] = mod.in_features * mod.out_features
        return hook

    decef = [name + "." for name, mod in model.named_modules() if isinstance(mod, DeCEFConv2d)]
    for name, mod in model.named_modules():
        if any(name.startswith(prefix) for prefix in decef):  # counted by the DeCEF layer, whichever way it runs
            continue
        if isinstance(mod, DeCEFConv2d):
            hooks.append(mod.register_forward_hook(decef_hook(name)))
        elif isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook(name)))
        elif isinstance(mod, (nn.Linear, LightLinear)):
            hooks.append(mod.register_forward_hook(linear_hook(name)))
    was_training = model.training
    device = next(model.parameters()).device
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return counts


def flops(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of one forward pass on one image (see ``flops_by_module``)."""
    return sum(flops_by_module(model, input_shape).values())


@dataclass
class LayerCount:
    layer: str
    family: str
    rank: int | None
    params: int
    flops: int


@dataclass
class ModelCount:
    trainable_params: int
    keras_params: int
    flops: int
    layers: list[LayerCount]

    def to_dict(self) -> dict:
        return asdict(self)


def count_model(model: nn.Module) -> ModelCount:
    """Totals and one row per slot of a network built by ``build_model`` (a reference network's
    conv layers and head, or a user network's replaceable layers, changed or not)."""
    spec = model.spec
    per_module = flops_by_module(model, (spec.in_channels, spec.image_size, spec.image_size))
    rows = []
    for slot in spec.slots():
        layer = model.get_submodule(slot.name)
        choice = spec.layers.get(slot.name) or LayerChoice("linear" if slot.kind == "dense" else "conv")
        layer_flops = sum(v for k, v in per_module.items() if k == slot.name or k.startswith(slot.name + "."))
        rows.append(LayerCount(slot.name, choice.family, choice.rank, trainable_params(layer), layer_flops))
    return ModelCount(trainable_params(model), keras_params(model), sum(per_module.values()), rows)
