"""The search space: for every slot, a family and its ranks, up to where the layer stops saving parameters.

A space is named by which families each kind of slot may take, read from ``lightlayers``' family
registry (``spaces``): ``all`` lets every layer take any registered family (keep its dense form,
go separable, take a LightConv2d or DeCEF rank); each family with a rank names the space where
every conv slot takes that family; ``mixed`` is every family with a rank. The dense head takes
the families with a rank (LightLinear) except in ``all``, where it may stay dense. Optuna
parameter names are stable and readable: ``rank:<slot>`` where a slot has one family, and
``family:<slot>`` plus ``<family>_rank:<slot>`` where it chooses (a name per family, because
their ranges differ).
"""

from __future__ import annotations

import json

from lightlayers import PAPER_HEAD_RANK, LayerChoice, ModelSpec, Slot, family_names, get_family
from lightlayers.families import ranked_family_names

PAPER_RANKS = (1, 2, 3, 4, 5)  # the paper's uniform Light models, enqueued first


def spaces() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Space name -> (families of conv slots, families of dense slots), from the family registry."""
    ranked_dense = ranked_family_names("dense")
    found = {"all": (family_names("conv"), family_names("dense"))}
    for name in ranked_family_names("conv"):
        found[name] = ((name,), ranked_dense)
    found["mixed"] = (ranked_family_names("conv"), ranked_dense)
    return found


def check_space(name: str) -> None:
    if name not in spaces():
        raise ValueError(f"family must be one of {', '.join(spaces())}, got {name!r}")


def slot_families(slot: Slot, space: str) -> tuple[str, ...]:
    conv, dense = spaces()[space]
    return dense if slot.kind == "dense" else conv


def rank_range(slot: Slot, family: str, classes: int) -> tuple[int, int]:
    """The searched ranks of a one-rank ``family`` in ``slot``: 1 .. break-even.

    The upper end is raised to the paper's uniform ranks (5 for conv layers, 8 for the light
    head) where a small layer breaks even earlier, so the paper's own models are in the space
    and the search can start from them; it never passes the family's hard limit.

    The layer that gives the logits (a dense slot with ``classes`` outputs) starts at rank
    ``classes - 1`` (or the upper end, if lower): at that rank it can compute any classifier the
    dense layer can (softmax ignores a shift common to every logit), below it it cannot
    (DECISIONS.md, "the logits layer's lowest rank", has what lower heads cost).
    """
    fam = get_family(slot.kind, family)
    hi = fam.break_even(slot.shape)
    if family == "light":
        hi = max(hi, PAPER_HEAD_RANK if slot.kind == "dense" else max(PAPER_RANKS))
    hi = min(max(hi, 1), fam.hard_limits(slot.shape)[0])
    lo = min(classes - 1, hi) if slot.kind == "dense" and slot.shape.out_channels == classes else 1
    return max(lo, 1), hi


def _rank_param(slot: Slot, family: str, choosing: bool) -> str:
    return f"{family}_rank:{slot.name}" if choosing else f"rank:{slot.name}"


def suggest_spec(trial, template: ModelSpec, space: str) -> ModelSpec:
    """Ask an Optuna trial for every slot's family and rank; return the candidate's spec."""
    layers = {}
    for slot in template.slots():
        options = slot_families(slot, space)
        choosing = len(options) > 1
        family = trial.suggest_categorical(f"family:{slot.name}", list(options)) if choosing else options[0]
        rank = None
        if get_family(slot.kind, family).takes_rank:
            rank = trial.suggest_int(_rank_param(slot, family, choosing), *rank_range(slot, family, template.num_classes))
        if family == "decef" and rank == 1 and "separable" in options:
            family, rank = "separable", None  # the same network: one name, so it is trained once
        layers[slot.name] = LayerChoice(family, rank)
    return template.with_layers(layers)


def params_for(template: ModelSpec, space: str, layers: dict[str, LayerChoice]) -> dict[str, object]:
    """The trial parameters that make ``suggest_spec`` return ``layers`` (for enqueueing)."""
    params: dict[str, object] = {}
    for slot in template.slots():
        options = slot_families(slot, space)
        choice = layers[slot.name]
        choosing = len(options) > 1
        if choosing:
            params[f"family:{slot.name}"] = choice.family
        if choice.rank is not None:
            params[_rank_param(slot, choice.family, choosing)] = choice.rank
    return params


def uniform_params(template: ModelSpec, space: str, rank: int) -> dict[str, object]:
    """Trial parameters of the uniform-rank model (the paper's, in a light space), clipped to each range."""
    layers = {}
    for slot in template.slots():
        options = slot_families(slot, space)
        family = "light" if "light" in options else options[0]
        lo, hi = rank_range(slot, family, template.num_classes)
        r = PAPER_HEAD_RANK if slot.kind == "dense" else rank
        layers[slot.name] = LayerChoice(family, min(max(r, lo), hi))
    return params_for(template, space, layers)


def slot_options(slot: Slot, space: str, classes: int) -> list[LayerChoice]:
    """Every layer a slot may take in ``space``, fewest parameters first (DeCEF at rank 1 is the separable one)."""
    options = slot_families(slot, space)
    found = []
    for family in options:
        fam = get_family(slot.kind, family)
        if not fam.takes_rank:
            found.append((fam.params(slot.shape, ()), LayerChoice(family)))
            continue
        lo, hi = rank_range(slot, family, classes)
        for rank in range(lo, hi + 1):
            if not (family == "decef" and rank == 1 and "separable" in options):
                found.append((fam.params(slot.shape, (rank,)), LayerChoice(family, rank)))
    return [choice for _, choice in sorted(found, key=lambda pc: (pc[0], pc[1].family, pc[1].rank or 0))]


def neighbour(spec: ModelSpec, space: str, rng, slots: int = 2, reach: int = 2) -> dict[str, LayerChoice]:
    """A network near ``spec``: one to ``slots`` of its layers moved by one to ``reach`` places along
    the slot's options ordered by parameters (a cheaper layer, or a larger rank)."""
    layers = dict(spec.layers)
    chosen = rng.sample(spec.slots(), k=min(len(spec.slots()), rng.randint(1, slots)))
    for slot in chosen:
        options = slot_options(slot, space, spec.num_classes)
        current = layers.get(slot.name) or LayerChoice("linear" if slot.kind == "dense" else "conv")
        if current.family == "decef" and current.rank == 1:
            current = LayerChoice("separable")
        at = next((i for i, o in enumerate(options) if o == current), len(options) // 2)
        step = rng.randint(1, reach) * rng.choice((-1, 1))
        layers[slot.name] = options[min(max(at + step, 0), len(options) - 1)]
    return layers


def config_key(spec: ModelSpec) -> str:
    """A canonical string of a candidate's layers: equal keys mean the same network."""
    return json.dumps(spec.to_dict()["layers"], sort_keys=True, separators=(",", ":"))

