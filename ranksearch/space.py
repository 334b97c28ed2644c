"""The search space: one rank per factorised layer, from 1 to where the layer stops saving parameters.

Parameter names are stable and readable: ``rank:<slot>`` (light or decef studies), and for a
``mixed`` study ``family:<slot>`` plus ``light_rank:<slot>`` / ``decef_rank:<slot>`` (a separate
name per family, because the two families' rank ranges differ).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from lightlayers import LayerChoice, ModelSpec, Slot, trainable_params
from lightlayers.models import make_layer

SEARCH_FAMILIES = ("light", "decef", "mixed")
PAPER_RANKS = (1, 2, 3, 4, 5)  # the paper's uniform Light models, enqueued first
PAPER_HEAD_RANK = 8


@lru_cache(maxsize=None)
def _params(slot: Slot, family: str, rank: int | None) -> int:
    return trainable_params(make_layer(slot, LayerChoice(family, rank)))


def dense_family(slot: Slot) -> str:
    return "linear" if slot.is_head else "conv"


def break_even_rank(slot: Slot, family: str) -> int:
    """The largest rank at which ``family`` in ``slot`` has fewer parameters than the dense layer (0 if none)."""
    dense = _params(slot, dense_family(slot), None)
    limit = 1 if family == "decef" and slot.kernel_size == 1 else None
    if family == "decef" and slot.kernel_size > 1:
        limit = slot.kernel_size**2
    rank = 0
    while (limit is None or rank < limit) and _params(slot, family, rank + 1) < dense:
        rank += 1
    return rank


def rank_range(slot: Slot, family: str) -> tuple[int, int]:
    """The searched ranks of ``family`` in ``slot``: 1 .. break-even.

    The upper end is raised to the paper's uniform ranks (5 for conv layers, 8 for the light
    head) where a small layer breaks even earlier, so the paper's own models are in the space
    and the search can start from them. A DeCEF layer's rank never exceeds s*s.
    """
    hi = break_even_rank(slot, family)
    if family == "light":
        hi = max(hi, PAPER_HEAD_RANK if slot.is_head else max(PAPER_RANKS))
    else:
        hi = max(hi, 1)
    return 1, hi


def slot_families(slot: Slot, family: str) -> tuple[str, ...]:
    if slot.is_head:
        return ("light",)
    return ("light", "decef") if family == "mixed" else (family,)


@dataclass(frozen=True)
class Dimension:
    slot: Slot
    families: tuple[str, ...]


def dimensions(template: ModelSpec, family: str) -> list[Dimension]:
    return [Dimension(s, slot_families(s, family)) for s in template.slots()]


def suggest_spec(trial, template: ModelSpec, family: str) -> ModelSpec:
    """Ask an Optuna trial for every slot's family and rank; return the candidate's spec."""
    layers = {}
    for dim in dimensions(template, family):
        name = dim.slot.name
        if len(dim.families) > 1:
            fam = trial.suggest_categorical(f"family:{name}", list(dim.families))
            rank = trial.suggest_int(f"{fam}_rank:{name}", *rank_range(dim.slot, fam))
        else:
            fam = dim.families[0]
            rank = trial.suggest_int(f"rank:{name}", *rank_range(dim.slot, fam))
        layers[name] = LayerChoice(fam, rank)
    return ModelSpec(template.architecture, template.in_channels, template.image_size, template.num_classes, template.widths, layers)


def uniform_params(template: ModelSpec, family: str, rank: int) -> dict[str, object]:
    """Trial parameters of the uniform-rank model (the paper's, for light), clipped to each range."""
    params: dict[str, object] = {}
    fam = "light" if family == "mixed" else family
    for dim in dimensions(template, family):
        name = dim.slot.name
        slot_fam = "light" if dim.slot.is_head else fam
        lo, hi = rank_range(dim.slot, slot_fam)
        r = PAPER_HEAD_RANK if dim.slot.is_head else rank
        r = min(max(r, lo), hi)
        if len(dim.families) > 1:
            params[f"family:{name}"] = slot_fam
            params[f"{slot_fam}_rank:{name}"] = r
        else:
            params[f"rank:{name}"] = r
    return params


def config_key(spec: ModelSpec) -> str:
    """A canonical string of a candidate's layers: equal keys mean the same network."""
    return json.dumps(spec.to_dict()["layers"], sort_keys=True, separators=(",", ":"))
