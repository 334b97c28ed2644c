"""How a person reads a network: a baseline's class name, a network's layers in a few words, a duration."""

from __future__ import annotations

from typing import Any

from lightlayers import get_family, spec_from_dict


def baseline_label(name: str) -> str:
    """``Conv2d``, ``SeparableConv2d``, ``Conv2d x0.5``: the class a person knows a baseline by, and its width."""
    if name == "given":  # a user's network with its own trained weights, measured before any training
        return "as-given (trained weights, not retrained)"
    if name == "parent":
        return "parent"
    family, _, multiplier = name.partition("@")
    label = get_family("conv", family).layer.removeprefix("nn.")
    return f"{label} x{float(multiplier):g}" if multiplier else label


def reference_name(name: str, network: str | None = None) -> str:
    """How the verdict names a baseline: ``the SeparableConv2d baseline``; for a ``--model`` study
    ``your SmallVGG``, ``your SmallVGG with every convolution separable``, ``your SmallVGG as given``."""
    if network is not None and name == "conv":
        return f"your {network}"
    if network is not None and name == "separable":
        return f"your {network} with every convolution separable"
    if name == "given":
        return f"your {network or 'network'} as given"
    return f"the {baseline_label(name)} baseline"


def parent_name(lineage: str, network: str | None = None) -> str:
    """How the verdict names the parent, from its lineage: ``the parent trained 5 epochs``, ``your SmallVGG as given``
    (never a bracket, which the verdict's own "(N parameters, ...)" would follow)."""
    if lineage.startswith("your network as given"):
        return f"your {network or 'network'} as given"
    if lineage.startswith("the dense network "):
        return "the parent " + lineage.removeprefix("the dense network ")
    return f"the parent, {lineage}" if lineage else "the parent"


def network_name(model: dict | None) -> str | None:
    """``SmallVGG`` for ``path/small_vgg.py:SmallVGG``; None for the paper's reference network."""
    return model["source"].rpartition(":")[2] if model else None


def slot_choices(spec: dict[str, Any]) -> list[tuple[str, str, Any, tuple[int, ...]]]:
    """(slot name, kind, family, ranks) of every slot the spec sets, in forward order."""
    model = spec_from_dict(spec)
    out = []
    for slot in model.slots():
        choice = model.layers.get(slot.name)
        if choice is not None:
            out.append((slot.name, slot.kind, choice.family_for(slot), choice.ranks(slot)))
    return out


def layers_label(spec: dict[str, Any]) -> str:
    """The layers of a network in a few words, from the family registry.

    ``light k=5 5 2 6 6 9; head light k=8`` when every conv slot has one ranked family,
    ``separable; head linear`` when every conv slot is the same layer, otherwise each conv
    slot's label: ``conv, light k=3, decef r=2, ...; head linear``.
    """
    choices = slot_choices(spec)
    convs = [(fam, r) for _, kind, fam, r in choices if kind != "dense"]
    dense = [(name, fam, r) for name, kind, fam, r in choices if kind == "dense"]
    names = {fam.name for fam, _ in convs}
    if len(names) == 1 and convs[0][0].takes_rank:
        fam = convs[0][0]
        per_name = [" ".join(str(r[i]) for _, r in convs) for i in range(len(fam.rank_names))]
        conv_text = f"{fam.name} " + " ".join(f"{n}={v}" for n, v in zip(fam.rank_names, per_name))
    elif len(names) == 1:
        conv_text = convs[0][0].name
    else:
        conv_text = ", ".join(fam.label(r) for fam, r in convs)
    if len(dense) == 1 and dense[0][0] == "head":
        dense_text = f"head {dense[0][1].label(dense[0][2])}"
    else:
        dense_text = ", ".join(f"{name} {fam.label(r)}" for name, fam, r in dense)
    return "; ".join(t for t in (conv_text, dense_text) if t)


def epochs(n: int | float) -> str:
    """``1 epoch``, ``3 epochs``."""
    return f"{n:,g} epoch{'' if n == 1 else 's'}"


def fine_tune_epochs(n: int) -> str:
    """``1 fine-tune epoch``, ``3 fine-tune epochs``."""
    return f"{n:,g} fine-tune epoch{'' if n == 1 else 's'}"


def acc(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def points(diff: float | None) -> str:
    return "n/a" if diff is None else f"{abs(diff):.2f} points"


def duration(seconds: float) -> str:
    """``45 s``, ``13 min 27 s``, ``2 h 05 min``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
