"""Factorise any PyTorch model: list the layers a family can replace, and replace them.

``replaceable_layers(model, input_shape)`` lists the layers of a model that a registered
family can replace, with their shape, cost and the rank range of every family;
``factorize(model, choices)`` returns a copy of the model with the chosen layers replaced,
built by the family registry (``lightlayers.families``), so a newly registered family works
here unchanged.

Which layers are replaceable (``layer_shape`` says why one is not):

- ``nn.Linear``.
- ``nn.Conv2d`` with a square kernel larger than 1x1, groups=1, dilation 1, a square stride
  and the same zero padding on every side (``padding_mode="zeros"``): the shapes a
  ``LayerShape`` describes and every conv family builds.
- Skipped: 1x1 convolutions. A 1x1 convolution is already a dense matrix product over
  channels: its separable and DeCEF forms have more parameters than it, and a low-rank form
  of it is a LightLinear applied at each pixel, which no conv family is (LightConv2d puts a
  ReLU in the middle).
- Skipped: grouped and depthwise convolutions (groups > 1). They are already factorised, and
  no family takes a ``groups``.
- Skipped: non-square kernels or strides, dilated convolutions, and padding other than the
  same number of zeros on every side (reflect or circular padding, PyTorch's "same" for an
  even kernel): no family reproduces them, so a replacement would change the layer's output.
- Skipped: subclasses of ``nn.Conv2d`` and ``nn.Linear``. They may compute something else
  (``nn.MultiheadAttention``'s ``out_proj`` is a Linear subclass whose weight is read
  directly, never called), so only the exact classes are replaced.
- ``replaceable_layers`` also leaves out layers that the forward pass never calls: replacing
  one would change nothing, and its FLOPs are unknown. (``factorize`` runs no forward pass:
  it replaces any layer of the kinds above that it is given.)

Initialisation (``init=``): ``"random"`` keeps each new layer's default initialisation.
``"svd"`` starts it from the layer it replaces, by the family's ``init_from_dense`` (each layer
says how in its ``init_from_dense`` method: DeCEFConv2d and SeparableConv2d by a per-channel
truncated SVD, LightLinear by a truncated SVD, LightConv2d by sign-paired SVD components
through its ReLU; the dense families copy the weights). A family without one keeps its
default initialisation, with a warning. Weights that hold NaN or infinities are refused.

The ``*_from_*`` functions (``decef_from_conv`` ...) build one such layer from a dense one.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from lightlayers.counting import flops_by_module
from lightlayers.decef_conv import DeCEFConv2d
from lightlayers.families import Family, LayerShape, Ranks, families, get_family
from lightlayers.light_conv import LightConv2d
from lightlayers.light_linear import LightLinear
from lightlayers.separable_conv import SeparableConv2d

Rank = int | tuple[int, ...] | None
# (lowest, highest) rank, each an int for a one-rank family and a tuple for a several-rank one.
RankRange = tuple[int, int] | tuple[tuple[int, ...], tuple[int, ...]]
INITS = ("random", "svd")


@dataclass(frozen=True)
class ReplaceableLayer:
    """One layer a family can replace.

    ``ranks`` maps every family of the layer's kind to its rank range, ``None`` for a family
    without rank. A one-rank family ranges from 1 to the last rank with fewer parameters than
    the dense layer (at least 1, at most the family's hard limit); a family with several ranks
    ranges up to its hard limits.
    """

    path: str  # as model.named_modules() names it
    shape: LayerShape
    params: int
    flops: int  # multiply-accumulates for one image, as lightlayers.counting.flops_by_module
    ranks: dict[str, RankRange | None]

    @property
    def kind(self) -> str:
        return self.shape.kind


def layer_shape(module: nn.Module, where: str = "") -> LayerShape:
    """The ``LayerShape`` of a replaceable layer, or ValueError saying why it is not one.

    A convolution padded by kernel_size // 2 gets ``padding=None``, the registry's "same", so
    its shape equals the one a spec writes; any other padding is kept as an int.
    """
    name = where or "this layer"
    if type(module) is nn.Linear:
        return LayerShape(module.in_features, module.out_features, bias=module.bias is not None)
    if type(module) is not nn.Conv2d:
        raise ValueError(f"{name} cannot be replaced: it is a {type(module).__name__}, not an nn.Conv2d or nn.Linear")
    reason = _why_not_conv(module)
    if reason:
        raise ValueError(f"{name} cannot be replaced: {reason}")
    s = module.kernel_size[0]
    pad = _symmetric_padding(module)
    return LayerShape(
        module.in_channels, module.out_channels, s, module.stride[0],
        None if pad == s // 2 else pad, module.bias is not None,
    )


def _why_not_conv(conv: nn.Conv2d) -> str | None:
    kh, kw = conv.kernel_size
    if kh != kw:
        return f"its kernel {kh}x{kw} is not square"
    if kh == 1:
        return "it is a 1x1 convolution, already a dense matrix product over channels"
    if conv.groups != 1:
        return f"it is a grouped convolution (groups={conv.groups}), already factorised"
    if conv.dilation != (1, 1):
        return f"it is dilated (dilation={conv.dilation}), which no family reproduces"
    if conv.stride[0] != conv.stride[1]:
        return f"its stride {conv.stride} is not square"
    if conv.padding_mode != "zeros":
        return f"it pads with {conv.padding_mode!r}; the families pad with zeros"
    if _symmetric_padding(conv) is None:
        return f"its padding {conv.padding!r} is not the same on every side"
    return None


def _symmetric_padding(conv: nn.Conv2d) -> int | None:
    if conv.padding == "valid":
        return 0
    if conv.padding == "same":  # PyTorch puts the odd pixel of an even kernel's padding on one side
        return conv.kernel_size[0] // 2 if conv.kernel_size[0] % 2 else None
    top, left = conv.padding
    return top if top == left else None


def _rank_range(family: Family, shape: LayerShape) -> RankRange | None:
    if not family.takes_rank:
        return None
    limits = family.hard_limits(shape)
    if len(limits) == 1:
        return (1, min(max(1, family.break_even(shape)), limits[0]))
    return (tuple(1 for _ in limits), tuple(limits))


def replaceable_layers(model: nn.Module, input_shape: tuple[int, ...]) -> list[ReplaceableLayer]:
    """The layers of ``model`` a family can replace, in the order the forward pass first calls them.

    One forward pass of a zero batch of one ``input_shape`` ((C, H, W) for an image model) in
    eval mode (the model's mode is restored) finds which layers are called and their FLOPs.
    """
    layers = []
    for path, layer_flops in flops_by_module(model, tuple(input_shape)).items():
        module = model.get_submodule(path)
        if not _is_replaceable(module):
            continue
        shape = layer_shape(module)
        layers.append(ReplaceableLayer(
            path, shape, sum(p.numel() for p in module.parameters()), layer_flops,
            {f.name: _rank_range(f, shape) for f in families(shape.kind)},
        ))
    return layers


def factorize(
    model: nn.Module,
    choices: Mapping[str, tuple[str, Rank]],
    *,
    init: str = "random",
) -> nn.Module:
    """A deep copy of ``model`` with the layers named in ``choices`` replaced; ``model`` is untouched.

    ``choices`` maps a module path to ``(family name, rank)``: the rank is an int, a tuple for
    a family with several ranks, or None for a family without rank, e.g.
    ``{"layer1.0.conv1": ("decef", 3), "fc": ("light", 8), "conv1": ("separable", None)}``.
    ``init`` is ``"random"`` (each new layer's default initialisation) or ``"svd"`` (started
    from the layer it replaces; see the module docstring). Every choice is checked before
    anything is built; a bad one is a ValueError naming it. The new layers take the replaced
    layers' device, dtype and train/eval mode.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(map(repr, INITS))}, got {init!r}")
    plan = [(path, *_resolve(model, path, choice)) for path, choice in choices.items()]
    return replace_planned(copy.deepcopy(model), plan, init)


def replace_planned(model: nn.Module, plan: list[tuple[str, Family, LayerShape, Ranks]], init: str) -> nn.Module:
    """Replace, in place, each (path, family, shape, ranks) of a checked plan; the model (or its replacement)."""
    for path, family, shape, ranks in plan:
        new = _replacement(model.get_submodule(path), family, shape, ranks, init, path)
        if path == "":
            model = new
            continue
        parent, _, name = path.rpartition(".")
        setattr(model.get_submodule(parent), name, new)
    return model


def _resolve(model: nn.Module, path: str, choice: object) -> tuple[Family, LayerShape, Ranks]:
    """The family, shape and ranks of one choice, or ValueError naming what is wrong with it."""
    try:
        module = model.get_submodule(path)
    except AttributeError:
        valid = [p for p, m in model.named_modules() if _is_replaceable(m)]
        listed = ", ".join(valid[:5]) + (f", ... ({len(valid)} in all)" if len(valid) > 5 else "")
        raise ValueError(f"no module '{path}' in the model; replaceable layers: {listed or 'none'}") from None
    where = path or "the model itself"
    shape = layer_shape(module, where)
    if not (isinstance(choice, (tuple, list)) and len(choice) == 2 and isinstance(choice[0], str)):
        raise ValueError(f"{where}: a choice is (family name, rank), got {choice!r}")
    name, rank = choice
    try:
        family = get_family(shape.kind, name)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    ranks = family.ranks_of(rank, where)
    family.check(shape, ranks, where)
    return family, shape, ranks


def _is_replaceable(module: nn.Module) -> bool:
    try:
        layer_shape(module)
    except ValueError:
        return False
    return True


def _replacement(old: nn.Module, family: Family, shape: LayerShape, ranks: Ranks, init: str, where: str) -> nn.Module:
    weight = old.weight
    new = family.build(shape, ranks).to(device=weight.device, dtype=weight.dtype)
    new.train(old.training)
    if init == "svd":
        if not all(torch.isfinite(p).all() for p in old.parameters()):
            raise ValueError(f"{where}: its trained weights hold NaN or infinite values; "
                             "they cannot be decomposed (retrain the network or use other weights)")
        with torch.no_grad():
            if family.init_from_dense is not None:
                family.init_from_dense(new, old)
            else:
                warnings.warn(
                    f"{where}: no initialisation from a dense layer is known for {type(new).__name__}; "
                    "it keeps its default initialisation",
                    stacklevel=3,
                )
    return new


def _from_dense(dense: nn.Module, kind: str, family: str, rank: Rank) -> nn.Module:
    shape = layer_shape(dense)
    if shape.kind != kind:
        raise ValueError(f"expected an nn.{'Conv2d' if kind == 'conv' else 'Linear'}, got a {type(dense).__name__}")
    chosen = get_family(kind, family)
    ranks = chosen.ranks_of(rank)
    chosen.check(shape, ranks)
    return _replacement(dense, chosen, shape, ranks, "svd", type(dense).__name__)


def decef_from_conv(conv: nn.Conv2d, rank: int) -> DeCEFConv2d:
    """A DeCEFConv2d that keeps ``rank`` eigen-filters per input channel of ``conv`` (exact at s*s)."""
    return cast(DeCEFConv2d, _from_dense(conv, "conv", "decef", rank))


def separable_from_conv(conv: nn.Conv2d) -> SeparableConv2d:
    """The SeparableConv2d nearest ``conv``: its first eigen-filter per input channel."""
    return cast(SeparableConv2d, _from_dense(conv, "conv", "separable", None))


def light_conv_from_conv(conv: nn.Conv2d, rank: int) -> LightConv2d:
    """A LightConv2d holding rank // 2 SVD components of ``conv`` as +/- pairs (exact from 2 * rank of the kernel)."""
    return cast(LightConv2d, _from_dense(conv, "conv", "light", rank))


def light_linear_from_linear(linear: nn.Linear, rank: int) -> LightLinear:
    """The rank-``rank`` truncated SVD of ``linear`` as a LightLinear (exact at min(in, out))."""
    return cast(LightLinear, _from_dense(linear, "dense", "light", rank))
