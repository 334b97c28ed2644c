"""The search space through what the search asks of it: every proposal and every step of the front walk."""

import random

import optuna
import pytest

from lightlayers import LayerChoice, ModelSpec, get_family, reference_spec
from lightlayers.spec import slots
from ranksearch.space import neighbour, slot_options, spaces, suggest_spec


def _logits_floor(spec: ModelSpec) -> int:
    head = spec.slots()[-1]
    return min(spec.num_classes - 1, max(get_family("dense", "light").break_even(head.shape), 8))


def _proposals(template: ModelSpec, space: str, n: int) -> list[ModelSpec]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(suggest_spec(trial, template, space))
        study.tell(trial, 0.0)
    return out


@pytest.mark.parametrize("space", list(spaces()))
@pytest.mark.parametrize("widths", [(16, 32, 64), (64, 128, 256)])
def test_the_logits_layer_is_never_proposed_below_classes_minus_one(space, widths):
    dense = {s.name: LayerChoice("linear" if s.kind == "dense" else "conv") for s in slots("residual", 3, widths, 10)}
    template = ModelSpec("residual", 3, 32, 10, widths, dense)
    floor = _logits_floor(template)
    assert floor >= 8  # a 10-class head: at least rank 8 where rank 9 saves nothing, rank 9 where it does
    heads = [s.layers["head"] for s in _proposals(template, space, 60)]
    light = [c.rank for c in heads if c.family == "light"]
    assert light and min(light) >= floor
    assert all(c.rank >= floor for c in slot_options(template.slots()[-1], space, 10) if c.family == "light")


def test_hidden_layers_and_convolutions_still_go_down_to_rank_one():
    template = reference_spec("cifar10", "conv")
    ranks = [c.rank for s in _proposals(template, "decef", 60) for name, c in s.layers.items() if name != "head"]
    assert min(ranks) == 1


def test_the_front_walk_never_steps_the_head_below_the_floor():
    template = reference_spec("cifar10", "conv")
    start = template.with_layers({**template.layers, "head": LayerChoice("light", 8)})
    rng = random.Random(0)
    seen = {neighbour(start, "all", rng, slots=len(start.slots()), reach=3)["head"] for _ in range(300)}
    assert LayerChoice("linear") in seen
    assert all(c.family == "linear" or c.rank >= 8 for c in seen)
