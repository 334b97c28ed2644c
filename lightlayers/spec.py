"""A JSON-serialisable description of a reference CNN: architecture, shape, and every slot's layer.

A *slot* is one place in the network a layer family can fill: ``block{i}.conv1``,
``block{i}.conv2``, ``block{i}.shortcut`` (residual only) and ``head``. Conv slots take the
registry's conv families (``lightlayers.families``), the head its dense families.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lightlayers.families import Family, LayerShape, get_family

ARCHITECTURES = ("plain", "residual")
PAPER_HEAD_RANK = 8  # the LightLinear head of the paper's Light models

# The paper's reference networks (DESIGN section 3).
REFERENCE_DATASETS: dict[str, dict[str, Any]] = {
    "mnist": dict(architecture="plain", in_channels=1, image_size=28, num_classes=10, widths=(8, 16, 32)),
    "fashion-mnist": dict(architecture="plain", in_channels=1, image_size=28, num_classes=10, widths=(8, 16, 32)),
    "cifar10": dict(architecture="residual", in_channels=3, image_size=32, num_classes=10, widths=(16, 32, 64)),
    "cifar100": dict(architecture="residual", in_channels=3, image_size=32, num_classes=100, widths=(16, 32, 64)),
}


@dataclass(frozen=True)
class Slot:
    """One replaceable layer position and the shape of the layer it holds."""

    name: str
    shape: LayerShape

    @property
    def kind(self) -> str:
        return self.shape.kind


@dataclass(frozen=True)
class LayerChoice:
    """A slot's family and rank: an int, a tuple for families with several ranks, or None."""

    family: str
    rank: int | tuple[int, ...] | None = None

    def family_for(self, slot: Slot) -> Family:
        return get_family(slot.kind, self.family)

    def ranks(self, slot: Slot) -> tuple[int, ...]:
        return self.family_for(slot).ranks_of(self.rank, f"layer {slot.name}")

    def to_dict(self) -> dict[str, Any]:
        if self.rank is None:
            return {"family": self.family}
        return {"family": self.family, "rank": list(self.rank) if isinstance(self.rank, tuple) else self.rank}


@dataclass
class ModelSpec:
    architecture: str
    in_channels: int
    image_size: int
    num_classes: int
    widths: tuple[int, ...]
    layers: dict[str, LayerChoice] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.widths = tuple(self.widths)
        validate(self)

    def slots(self) -> list[Slot]:
        return slots(self.architecture, self.in_channels, self.widths, self.num_classes)

    def with_layers(self, layers: dict[str, LayerChoice]) -> "ModelSpec":
        return ModelSpec(self.architecture, self.in_channels, self.image_size, self.num_classes, self.widths, dict(layers))

    def to_dict(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "in_channels": self.in_channels,
            "image_size": self.image_size,
            "num_classes": self.num_classes,
            "widths": list(self.widths),
            "layers": {name: c.to_dict() for name, c in self.layers.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelSpec":
        """Build a spec from JSON data; ValueError naming the problem on anything malformed."""
        if not isinstance(data, dict):
            raise ValueError(f"a model spec must be a JSON object, got {type(data).__name__}")
        keys = ("architecture", "in_channels", "image_size", "num_classes", "widths", "layers")
        missing = [k for k in keys if k not in data]
        if missing:
            raise ValueError(f"model spec is missing {', '.join(missing)}")
        unknown = sorted(set(data) - set(keys))
        if unknown:
            raise ValueError(f"model spec has unknown field(s) {', '.join(unknown)}")
        if not isinstance(data["layers"], dict):
            raise ValueError("model spec 'layers' must be an object of slot name -> {family, rank}")
        layers = {}
        for name, choice in data["layers"].items():
            if not isinstance(choice, dict) or "family" not in choice or set(choice) - {"family", "rank"}:
                raise ValueError(f"layer {name!r} must be {{\"family\": ..., \"rank\": ...}}, got {choice!r}")
            rank = choice.get("rank")
            layers[name] = LayerChoice(choice["family"], tuple(rank) if isinstance(rank, list) else rank)
        if not isinstance(data["widths"], (list, tuple)):
            raise ValueError(f"model spec 'widths' must be a list of integers, got {data['widths']!r}")
        return cls(
            data["architecture"], data["in_channels"], data["image_size"], data["num_classes"],
            tuple(data["widths"]), layers,
        )


def slots(architecture: str, in_channels: int, widths: tuple[int, ...], num_classes: int) -> list[Slot]:
    """Every slot of a reference network, in forward order."""
    out = []
    c = in_channels
    for i, w in enumerate(widths, start=1):
        out.append(Slot(f"block{i}.conv1", LayerShape(c, w, 3)))
        out.append(Slot(f"block{i}.conv2", LayerShape(w, w, 3)))
        if architecture == "residual":
            out.append(Slot(f"block{i}.shortcut", LayerShape(c, w, 1)))
        c = w
    out.append(Slot("head", LayerShape(c, num_classes)))
    return out


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate(spec: ModelSpec) -> None:
    if spec.architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {spec.architecture!r}")
    for name in ("in_channels", "image_size", "num_classes"):
        value = getattr(spec, name)
        if not _is_int(value) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not spec.widths or not all(_is_int(w) and w >= 1 for w in spec.widths):
        raise ValueError(f"widths must be a non-empty list of positive integers, got {list(spec.widths)!r}")
    if spec.image_size < 2 ** len(spec.widths):
        raise ValueError(f"image_size {spec.image_size} is too small for {len(spec.widths)} blocks that each halve it "
                         f"(at least {2 ** len(spec.widths)} pixels)")
    expected = {s.name: s for s in spec.slots()}
    missing = [n for n in expected if n not in spec.layers]
    if missing:
        raise ValueError(f"model spec has no layer for slot(s) {', '.join(missing)}")
    extra = [n for n in spec.layers if n not in expected]
    if extra:
        raise ValueError(f"model spec names unknown slot(s) {', '.join(extra)}; expected {', '.join(expected)}")
    for name, choice in spec.layers.items():
        slot = expected[name]
        try:
            family = choice.family_for(slot)
        except ValueError as e:
            raise ValueError(f"layer {name}: {e}") from None
        family.check(slot.shape, choice.ranks(slot), f"layer {name}")


def uniform_choice(slot: Slot, family: str, rank: int | None, head_rank: int = PAPER_HEAD_RANK) -> LayerChoice:
    """The paper's layer for ``slot`` in a network of one family: ranked conv families get a
    LightLinear head of ``head_rank`` (at most the head's own limit), the others a Linear one. In a 1x1 slot (a shortcut) the
    rank is lowered to the slot's hard limit (a 1x1 kernel has a single DeCEF eigen-filter);
    elsewhere a rank over the limit is left for validation to refuse."""
    conv = get_family("conv", family)
    if slot.kind == "dense":  # the head's rank cannot pass min(features, classes)
        dense = get_family("dense", "light")
        return LayerChoice("light", min(head_rank, dense.hard_limits(slot.shape)[0])) if conv.takes_rank else LayerChoice("linear")
    if not conv.takes_rank:
        return LayerChoice(family)
    if slot.shape.kernel_size == 1:
        rank = min(rank, conv.hard_limits(slot.shape)[0])
    return LayerChoice(family, rank)


def uniform_spec(
    architecture: str,
    in_channels: int,
    image_size: int,
    num_classes: int,
    widths: tuple[int, ...],
    family: str,
    rank: int | None = None,
    head_rank: int = PAPER_HEAD_RANK,
) -> ModelSpec:
    """A network with the same family (and rank) in every conv slot, as in the paper."""
    conv = get_family("conv", family)
    conv.ranks_of(rank, "uniform model")
    layers = {
        s.name: uniform_choice(s, family, rank, head_rank) for s in slots(architecture, in_channels, tuple(widths), num_classes)
    }
    return ModelSpec(architecture, in_channels, image_size, num_classes, tuple(widths), layers)


def reference_spec(dataset: str, family: str, rank: int | None = None) -> ModelSpec:
    """The paper's network for ``dataset`` (mnist, fashion-mnist, cifar10, cifar100)."""
    if dataset not in REFERENCE_DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(REFERENCE_DATASETS)}")
    return uniform_spec(family=family, rank=rank, **REFERENCE_DATASETS[dataset])


def reference_spec_for_shape(in_channels: int, image_size: int, num_classes: int, family: str, rank: int | None = None) -> ModelSpec:
    """The paper's grey-image (plain) or colour-image (residual) network for any data shape."""
    base = REFERENCE_DATASETS["cifar10" if in_channels == 3 else "mnist"]
    return uniform_spec(
        base["architecture"], in_channels, image_size, num_classes, base["widths"], family, rank
    )
