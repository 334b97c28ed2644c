"""The layer families and their one registry.

A *family* is a kind of layer that can fill the place of a dense convolution (``kind="conv"``)
or a dense linear layer (``kind="dense"``): how to build it for a layer's shape, which ranks it
takes, their hard limits, and its parameter count in closed form. Everything that needs to
know the families (spec validation, model building, the CLI's choices, the search space, the
report's labels, the initialisation from a trained dense layer) asks this registry, so adding a
family is one layer module, one ``register`` call below, and its tests.

A family with one rank writes it in a spec as ``"rank": 3``; a family with several ranks (a
Tucker-2 convolution has an input and an output rank) writes ``"rank": [2, 3]``, in the order
of ``rank_names``. Families without rank write none.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from lightlayers.decef_conv import DeCEFConv2d
from lightlayers.effective_rank import matrix_energy, per_channel_energy
from lightlayers.light_conv import LightConv2d
from lightlayers.light_linear import LightLinear
from lightlayers.separable_conv import SeparableConv2d

KINDS = ("conv", "dense")
Ranks = tuple[int, ...]


@dataclass(frozen=True)
class LayerShape:
    """The shape of one replaceable layer: a square s x s convolution, or a dense layer (s = 0)."""

    in_channels: int
    out_channels: int
    kernel_size: int = 0
    stride: int = 1
    padding: int | None = None  # None: "same", kernel_size // 2 on each side
    bias: bool = True

    @property
    def kind(self) -> str:
        return "dense" if self.kernel_size == 0 else "conv"

    @property
    def pad(self) -> int:
        return self.kernel_size // 2 if self.padding is None else self.padding


@dataclass(frozen=True)
class Family:
    """One layer family: built, counted and bounded from a ``LayerShape`` and a tuple of ranks."""

    name: str
    kind: str
    layer: str  # the class a person knows it by
    symbol: str  # one letter for compact labels (rank maps)
    build: Callable[[LayerShape, Ranks], nn.Module]
    params: Callable[[LayerShape, Ranks], int]
    rank_names: tuple[str, ...] = ()
    hard_limits: Callable[[LayerShape], Ranks] = field(default=lambda shape: ())
    # Start a built layer from the trained dense layer it replaces (``factorize(init="svd")``);
    # None: no decomposition is known, the layer keeps its default initialisation.
    init_from_dense: Callable[[nn.Module, nn.Module], None] | None = None
    # The share of a trained dense layer's spectral energy this family keeps at these ranks, read off
    # the dense weight alone (no training): how much of the layer an initialisation from it keeps.
    energy_kept: Callable[["torch.Tensor", Ranks], float] = field(default=lambda weight, ranks: 1.0)

    @property
    def takes_rank(self) -> bool:
        return bool(self.rank_names)

    def ranks_of(self, rank: object, where: str = "") -> Ranks:
        """A spec's ``rank`` value as a tuple with one entry per ``rank_names``; ValueError if malformed."""
        prefix = f"{where}: " if where else ""
        if not self.rank_names:
            if rank is not None:
                raise ValueError(f"{prefix}family {self.name} takes no rank, got {rank!r}")
            return ()
        values = list(rank) if isinstance(rank, (list, tuple)) else [rank]
        if len(values) != len(self.rank_names) or not all(_is_int(v) and v >= 1 for v in values):
            want = "an integer rank >= 1" if len(self.rank_names) == 1 else f"ranks [{', '.join(self.rank_names)}], integers >= 1"
            raise ValueError(f"{prefix}family {self.name} needs {want}, got {rank!r}")
        return tuple(int(v) for v in values)

    def rank_value(self, ranks: Ranks) -> int | list[int] | None:
        """The JSON form of ``ranks``: None, an int, or a list."""
        if not ranks:
            return None
        return ranks[0] if len(ranks) == 1 else list(ranks)

    def check(self, shape: LayerShape, ranks: Ranks, where: str = "") -> None:
        """ValueError if ``ranks`` exceed the family's hard limits for ``shape``."""
        if shape.kind != self.kind:
            raise ValueError(f"{where}: family {self.name} replaces {self.kind} layers, not a {shape.kind} layer")
        for name, value, limit in zip(self.rank_names, ranks, self.hard_limits(shape)):
            if value > limit:
                raise ValueError(
                    f"{where + ': ' if where else ''}{self.name} {name} must be <= {limit} for this layer "
                    f"({_describe(shape)}), got {value}"
                )

    def break_even(self, shape: LayerShape) -> int:
        """The largest (single) rank at which this family has fewer parameters than the dense layer, 0 if none.

        Capped by the hard limit. Families with several ranks return 0 (their ranges are their
        hard limits).
        """
        if len(self.rank_names) != 1:
            return 0
        dense = dense_family(self.kind).params(shape, ())
        limit = self.hard_limits(shape)[0]
        lo, hi = 0, limit  # params grow with the rank: binary search the last rank below dense
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.params(shape, (mid,)) < dense:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def label(self, ranks: Ranks) -> str:
        """``light k=3``, ``decef r=2``, ``conv``: how reports name a layer choice."""
        if not ranks:
            return self.name
        return f"{self.name} " + " ".join(f"{n}={v}" for n, v in zip(self.rank_names, ranks))


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _describe(shape: LayerShape) -> str:
    if shape.kind == "dense":
        return f"dense {shape.in_channels} -> {shape.out_channels}"
    s = shape.kernel_size
    return f"{s}x{s} conv {shape.in_channels} -> {shape.out_channels}"


_REGISTRY: dict[tuple[str, str], Family] = {}
_DENSE = {"conv": "conv", "dense": "linear"}


def register(family: Family) -> Family:
    """Add a family; its (kind, name) must be new."""
    if family.kind not in KINDS:
        raise ValueError(f"family kind must be one of {', '.join(KINDS)}, got {family.kind!r}")
    key = (family.kind, family.name)
    if key in _REGISTRY:
        raise ValueError(f"a {family.kind} family named {family.name!r} is already registered")
    _REGISTRY[key] = family
    return family


def unregister(kind: str, name: str) -> None:
    """Remove a family registered by ``register`` (a plugin unloading, a test cleaning up)."""
    _REGISTRY.pop((kind, name), None)


def get_family(kind: str, name: str) -> Family:
    """The registered family, or ValueError naming the known ones: never a fall-through."""
    try:
        return _REGISTRY[(kind, name)]
    except KeyError:
        raise ValueError(f"unknown {kind} family {name!r}; choose one of {', '.join(family_names(kind))}") from None


def family_names(kind: str) -> tuple[str, ...]:
    return tuple(name for k, name in _REGISTRY if k == kind)


def families(kind: str) -> tuple[Family, ...]:
    return tuple(f for (k, _), f in _REGISTRY.items() if k == kind)


def dense_family(kind: str) -> Family:
    """The family a factorised layer of ``kind`` is measured against: conv or linear."""
    return _REGISTRY[(kind, _DENSE[kind])]


def ranked_family_names(kind: str) -> tuple[str, ...]:
    return tuple(f.name for f in families(kind) if f.takes_rank)


# -- the families -----------------------------------------------------------------------------
def _bias(shape: LayerShape) -> int:
    return shape.out_channels if shape.bias else 0


def _copy(new: nn.Module, dense: nn.Module) -> None:
    new.load_state_dict(dense.state_dict())


def _own_init(new: nn.Module, dense: nn.Module) -> None:
    new.init_from_dense(dense)


register(Family(
    "conv", "conv", "nn.Conv2d", "C",
    build=lambda s, r: nn.Conv2d(s.in_channels, s.out_channels, s.kernel_size, s.stride, s.pad, bias=s.bias),
    params=lambda s, r: s.kernel_size**2 * s.in_channels * s.out_channels + _bias(s),
    init_from_dense=_copy,
))
register(Family(
    "separable", "conv", "SeparableConv2d", "S",
    build=lambda s, r: SeparableConv2d(s.in_channels, s.out_channels, s.kernel_size, s.stride, s.pad, s.bias),
    params=lambda s, r: s.kernel_size**2 * s.in_channels + s.in_channels * s.out_channels + _bias(s),
    init_from_dense=_own_init,  # DeCEF's first eigen-filter per input channel
    energy_kept=lambda w, r: per_channel_energy(w, 1),
))
register(Family(
    "light", "conv", "LightConv2d", "L",
    build=lambda s, r: LightConv2d(s.in_channels, s.out_channels, s.kernel_size, r[0], s.stride, s.pad, s.bias),
    params=lambda s, r: (
        s.kernel_size**2 * (s.in_channels + s.out_channels) * r[0] + (r[0] if s.bias else 0) + _bias(s)
    ),
    rank_names=("k",),
    # Wider in the middle than both the input and the output patch is no longer a factorisation.
    hard_limits=lambda s: (max(s.in_channels, s.out_channels) * s.kernel_size**2,),
    init_from_dense=_own_init,
    energy_kept=lambda w, r: matrix_energy(w, (r[0] + 1) // 2),  # k // 2 sign pairs, and a half for an odd k
))
register(Family(
    "decef", "conv", "DeCEFConv2d", "D",
    build=lambda s, r: DeCEFConv2d(s.in_channels, s.out_channels, s.kernel_size, r[0], s.stride, s.pad, s.bias),
    params=lambda s, r: s.kernel_size**2 * s.in_channels * r[0] + s.in_channels * r[0] * s.out_channels + _bias(s),
    rank_names=("r",),
    hard_limits=lambda s: (s.kernel_size**2,),  # s*s eigen-filters span every s x s filter
    init_from_dense=_own_init,
    energy_kept=lambda w, r: per_channel_energy(w, r[0]),
))
register(Family(
    "linear", "dense", "nn.Linear", "F",
    build=lambda s, r: nn.Linear(s.in_channels, s.out_channels, bias=s.bias),
    params=lambda s, r: s.in_channels * s.out_channels + _bias(s),
    init_from_dense=_copy,
))
register(Family(
    "light", "dense", "LightLinear", "L",
    build=lambda s, r: LightLinear(s.in_channels, s.out_channels, r[0], s.bias),
    params=lambda s, r: (s.in_channels + s.out_channels) * r[0] + _bias(s),
    rank_names=("k",),
    hard_limits=lambda s: (min(s.in_channels, s.out_channels),),  # the product's rank cannot exceed it
    init_from_dense=_own_init,
    energy_kept=lambda w, r: matrix_energy(w, r[0]),
))
