"""The networks a search trains besides its candidates: the parent, and the baselines a user could take without it.

*The parent* is the dense network itself (the paper's reference network, or the user's network
unmodified). Under ``start="parent"`` it is trained once with the search's recipe (or, with a
user's ``--weights``, measured as given), saved in the run folder, and every candidate inherits
its weights, factorised layer by layer, then fine-tunes.

*Baselines* are named ``conv`` (the dense network), ``separable`` (every convolution separable)
and ``<family>@<multiplier>`` (the reference network with every width scaled: a thinner network,
a user's first alternative to a search). The fairness rule: under ``start="parent"`` every
baseline that can inherit does, and fine-tunes as a candidate does: conv and separable are points
of the candidates' space; a thinner network keeps the parent's strongest channels
(``lightlayers.thinning``: filter pruning, what a user with a trained network does without a rank
search). One that cannot inherit (a wider network, or any under ``start="scratch"``) trains from
scratch for as long as a candidate's whole lineage, the parent's epochs plus the fine-tune's. Only
points of the space are *comparable*: pruners compare candidates with them at every rung. Each
baseline says how it was made in its ``lineage``.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from lightlayers import LayerChoice, ModelSpec, NetworkSpec, reference_spec, reference_spec_for_shape
from lightlayers.network import load_state

from ranksearch.config import Recipe, SearchConfig, parse_baseline
from ranksearch.data import REFERENCE_NAMES, Splits
from ranksearch.errors import RunFailure
from ranksearch.labels import epochs, fine_tune_epochs
from ranksearch.outputs import write_atomic
from ranksearch.records import PARENT_FILE, Required
from ranksearch.space import params_for, slot_families



def baseline_spec(cfg: SearchConfig, splits: Splits, name: str) -> ModelSpec | NetworkSpec:
    """The network ``name`` describes for the data (conv: the dense network itself)."""
    family, multiplier = parse_baseline(name)
    if cfg.model is not None:
        base = NetworkSpec(cfg.model["source"], splits.in_channels, splits.image_size, splits.num_classes,
                           cfg.model["kwargs"], weights=cfg.model["weights"])
        return base.with_layers({  # every slot named: the unchanged ones as conv / linear
            s.name: LayerChoice("linear") if s.kind == "dense" else LayerChoice(family) for s in base.slots()
        })
    if cfg.data.dataset in REFERENCE_NAMES:
        spec = reference_spec(cfg.data.dataset, family)
    else:
        spec = reference_spec_for_shape(splits.in_channels, splits.image_size, splits.num_classes, family)
    if multiplier == 1:
        return spec
    return replace(spec, widths=tuple(max(1, math.ceil(w * multiplier)) for w in spec.widths))  # same slots


def _point_params(template: ModelSpec | NetworkSpec, space: str, family: str) -> dict[str, object] | None:
    """The trial parameters of the network with ``family`` in every conv slot (the dense head), if the space holds it."""
    layers = {s.name: LayerChoice("linear") if s.kind == "dense" else LayerChoice(family) for s in template.slots()}
    if any(layers[s.name].family not in slot_families(s, space) for s in template.slots()):
        return None
    return params_for(template, space, layers)


def required_networks(cfg: SearchConfig, template: ModelSpec | NetworkSpec) -> list[Required]:
    """The parent (when candidates inherit, or a user gave trained weights) and the baselines, in training order:
    the parent first, then what trains from scratch, then what inherits."""
    out = [Required("parent", "parent", {}, False, False)] if cfg.start == "parent" or cfg.given_weights else []
    later = []
    for name in cfg.baselines:
        family, multiplier = parse_baseline(name)
        in_space = multiplier == 1
        params = (_point_params(template, cfg.family, family) if in_space else None) or {}
        inherits = cfg.start == "parent" and multiplier <= 1
        comparable = in_space or cfg.start == "scratch"
        (later if inherits else out).append(Required("baseline", name, params, inherits, comparable))
    return out + later


@dataclass(frozen=True)
class Lineage:
    """How a baseline is trained: inherited from the parent like a candidate, or from scratch for ``epochs``."""

    words: str
    inherits: bool
    epochs: int | None = None

    def recipe(self, cfg: SearchConfig) -> Recipe:
        return replace(cfg.recipe, epochs=self.epochs or cfg.recipe.epochs)


def lineage_of(cfg: SearchConfig, required: Required) -> Lineage:
    if required.inherits:
        thinner = parse_baseline(required.name)[1] < 1
        kept = " (its strongest channels)" if thinner else ""
        return Lineage(f"inherits from the parent{kept}, {fine_tune_epochs(cfg.candidate_recipe.epochs)}", True)
    n = cfg.recipe.epochs + (cfg.candidate_recipe.epochs if cfg.start == "parent" else 0)
    return Lineage(f"from scratch, {epochs(n)}", False, n)


def save_parent(model: nn.Module, folder: Path | None) -> str:
    """Save the trained parent's state_dict in the run folder (atomically); its absolute path."""
    if folder is None:
        raise RunFailure("the parent can only be trained by `ranksearch run`, which has a run folder")
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    return str(write_atomic(Path(folder) / PARENT_FILE, buffer.getvalue()).resolve())


def load_parent(path: str | None) -> dict[str, torch.Tensor]:
    """The parent's state_dict; one line when it cannot be read here."""
    if not path:
        raise RunFailure("the parent has not been trained yet; rerun the same command to continue")
    try:
        return load_state(path)
    except ValueError as e:
        raise RunFailure(f"{e}; a worker on another machine needs the run folder's {PARENT_FILE} at the same path") from None
