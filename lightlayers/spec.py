"""A JSON-serialisable description of a reference CNN: architecture, shape, and every slot's layer.

A *slot* is one place in the network a layer family can fill: ``block{i}.conv1``,
``block{i}.conv2``, ``block{i}.shortcut`` (residual only) and ``head``. Conv slots take the
families ``conv``, ``separable``, ``light``, ``decef``; the head takes ``linear`` or ``light``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CONV_FAMILIES = ("conv", "separable", "light", "decef")
HEAD_FAMILIES = ("linear", "light")
RANKED_FAMILIES = ("light", "decef")
ARCHITECTURES = ("plain", "residual")
PAPER_HEAD_RANK = 8

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
    in_channels: int
    out_channels: int
    kernel_size: int  # 0 for the dense head

    @property
    def is_head(self) -> bool:
        return self.name == "head"


@dataclass(frozen=True)
class LayerChoice:
    family: str
    rank: int | None = None


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "in_channels": self.in_channels,
            "image_size": self.image_size,
            "num_classes": self.num_classes,
            "widths": list(self.widths),
            "layers": {
                name: ({"family": c.family, "rank": c.rank} if c.rank is not None else {"family": c.family})
                for name, c in self.layers.items()
            },
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
            layers[name] = LayerChoice(choice["family"], choice.get("rank"))
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
        out.append(Slot(f"block{i}.conv1", c, w, 3))
        out.append(Slot(f"block{i}.conv2", w, w, 3))
        if architecture == "residual":
            out.append(Slot(f"block{i}.shortcut", c, w, 1))
        c = w
    out.append(Slot("head", c, num_classes, 0))
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
    expected = {s.name: s for s in spec.slots()}
    missing = [n for n in expected if n not in spec.layers]
    if missing:
        raise ValueError(f"model spec has no layer for slot(s) {', '.join(missing)}")
    extra = [n for n in spec.layers if n not in expected]
    if extra:
        raise ValueError(f"model spec names unknown slot(s) {', '.join(extra)}; expected {', '.join(expected)}")
    for name, choice in spec.layers.items():
        slot = expected[name]
        allowed = HEAD_FAMILIES if slot.is_head else CONV_FAMILIES
        if choice.family not in allowed:
            raise ValueError(f"layer {name}: family must be one of {', '.join(allowed)}, got {choice.family!r}")
        if choice.family in RANKED_FAMILIES:
            if not _is_int(choice.rank) or choice.rank < 1:
                raise ValueError(f"layer {name}: family {choice.family} needs an integer rank >= 1, got {choice.rank!r}")
            if choice.family == "decef" and choice.rank > slot.kernel_size**2:
                raise ValueError(
                    f"layer {name}: decef rank must be <= {slot.kernel_size ** 2} for a "
                    f"{slot.kernel_size}x{slot.kernel_size} kernel, got {choice.rank}"
                )
        elif choice.rank is not None:
            raise ValueError(f"layer {name}: family {choice.family} takes no rank, got {choice.rank!r}")


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
    """A network with the same family (and rank) in every conv slot, as in the paper.

    ``conv`` and ``separable`` get a plain Linear head; ``light`` and ``decef`` get a LightLinear
    head of rank ``head_rank`` (8 in the paper).
    """
    if family not in CONV_FAMILIES:
        raise ValueError(f"family must be one of {', '.join(CONV_FAMILIES)}, got {family!r}")
    if family in RANKED_FAMILIES and rank is None:
        raise ValueError(f"family {family} needs a rank")
    if family not in RANKED_FAMILIES and rank is not None:
        raise ValueError(f"family {family} takes no rank, got {rank!r}")
    layers = {}
    for slot in slots(architecture, in_channels, tuple(widths), num_classes):
        if slot.is_head:
            layers[slot.name] = LayerChoice("light", head_rank) if family in RANKED_FAMILIES else LayerChoice("linear")
        elif family == "decef" and slot.kernel_size == 1:
            layers[slot.name] = LayerChoice("decef", 1)  # a 1x1 kernel has a single eigen-filter
        else:
            layers[slot.name] = LayerChoice(family, rank)
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
