"""Parameters (PyTorch and Keras conventions) and FLOPs, per layer and for a whole model."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

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

    Convention: one FLOP is one multiply-accumulate of a convolution or a linear layer. A layer
    that counts itself (a ``multiply_accumulates(output)`` method: LightLinear through its rank,
    DeCEFConv2d as its two factor convolutions whichever way it runs) is counted by that method
    and its submodules are not; ``nn.Conv2d`` and ``nn.Linear`` by their shapes. Biases,
    BatchNorm, activations, pooling and additions are not counted; they are a few per output
    element and the same for every family, so they would only blur the comparison.
    """
    counts: dict[str, int] = {}
    hooks = []

    def own_hook(name):
        def hook(mod, inputs, output):
            counts[name] = mod.multiply_accumulates(output)
        return hook

    def conv_hook(name):
        def hook(mod: nn.Conv2d, inputs, output):
            per_output = (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
            counts[name] = output[0].numel() * per_output
        return hook

    def linear_hook(name):
        def hook(mod: nn.Linear, inputs, output):
            counts[name] = mod.in_features * mod.out_features
        return hook

    counting_itself = [name + "." for name, mod in model.named_modules() if hasattr(mod, "multiply_accumulates")]
    for name, mod in model.named_modules():
        if any(name.startswith(prefix) for prefix in counting_itself):
            continue
        if hasattr(mod, "multiply_accumulates"):
            hooks.append(mod.register_forward_hook(own_hook(name)))
        elif isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook(name)))
        elif isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(linear_hook(name)))
    was_training = model.training
    params = next(model.parameters(), None)
    if params is None:
        raise ValueError("the model has no parameters: there is nothing to count or factorise")
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=params.device))
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
    spec = getattr(model, "spec", None)
    if spec is None:
        raise ValueError(f"count_model counts a network built by build_model (it reads its spec), not a {type(model).__name__}; "
                         "for any network use trainable_params(model) and flops(model, (channels, height, width))")
    per_module = flops_by_module(model, (spec.in_channels, spec.image_size, spec.image_size))
    rows = []
    for slot in spec.slots():
        layer = model.get_submodule(slot.name)
        choice = spec.layers.get(slot.name) or LayerChoice("linear" if slot.kind == "dense" else "conv")
        layer_flops = sum(v for k, v in per_module.items() if k == slot.name or k.startswith(slot.name + "."))
        rows.append(LayerCount(slot.name, choice.family, choice.rank, trainable_params(layer), layer_flops))
    return ModelCount(trainable_params(model), keras_params(model), sum(per_module.values()), rows)
