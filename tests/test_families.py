"""The family registry, tested over every registered family against the dense layer it replaces."""

import json

import pytest
import torch

from lightlayers import (
    LayerShape,
    ModelSpec,
    build_model,
    family_names,
    get_family,
    reference_spec,
    trainable_params,
)
from lightlayers.families import families

CONV_SHAPES = [LayerShape(1, 8, 3), LayerShape(16, 32, 3), LayerShape(3, 16, 1), LayerShape(8, 5, 5, stride=2), LayerShape(4, 6, 3, bias=False)]
DENSE_SHAPES = [LayerShape(32, 10), LayerShape(64, 100), LayerShape(7, 3, bias=False)]
EVERY = [(f, s) for f in families("conv") for s in CONV_SHAPES] + [(f, s) for f in families("dense") for s in DENSE_SHAPES]


def ranks_to_try(family, shape):
    if not family.takes_rank:
        return [()]
    limit = family.hard_limits(shape)[0]
    return sorted({(1,), (min(2, limit),), (limit,)})


@pytest.mark.parametrize("family,shape", EVERY, ids=lambda v: getattr(v, "name", None) or str(v))
def test_parameter_formula_matches_the_built_layer(family, shape):
    for ranks in ranks_to_try(family, shape):
        assert family.params(shape, ranks) == trainable_params(family.build(shape, ranks)), ranks


@pytest.mark.parametrize("family,shape", EVERY, ids=lambda v: getattr(v, "name", None) or str(v))
def test_built_layer_has_the_dense_layers_output_shape(family, shape):
    dense = get_family(shape.kind, "conv" if shape.kind == "conv" else "linear").build(shape, ())
    x = torch.randn(2, shape.in_channels, 9, 9) if shape.kind == "conv" else torch.randn(2, shape.in_channels)
    for ranks in ranks_to_try(family, shape):
        assert family.build(shape, ranks)(x).shape == dense(x).shape


@pytest.mark.parametrize("family,shape", [(f, s) for f, s in EVERY if f.takes_rank], ids=lambda v: getattr(v, "name", None) or str(v))
def test_break_even_is_the_last_rank_that_saves_parameters(family, shape):
    dense = get_family(shape.kind, "conv" if shape.kind == "conv" else "linear").params(shape, ())
    k = family.break_even(shape)
    assert k == 0 or family.params(shape, (k,)) < dense
    if k < family.hard_limits(shape)[0]:
        assert family.params(shape, (k + 1,)) >= dense


def test_the_registry_lists_the_papers_families():
    assert family_names("conv") == ("conv", "separable", "light", "decef")
    assert family_names("dense") == ("linear", "light")


@pytest.mark.parametrize("kind,name", [("conv", "tucker"), ("dense", "decef"), ("conv", "linear")])
def test_an_unknown_family_is_an_error_naming_the_known_ones(kind, name):
    with pytest.raises(ValueError, match=f"unknown {kind} family '{name}'"):
        get_family(kind, name)
    spec = reference_spec("mnist", "conv").to_dict()
    spec["layers"]["head" if kind == "dense" else "block1.conv1"] = {"family": name}
    with pytest.raises(ValueError, match=name):
        ModelSpec.from_dict(spec)


@pytest.mark.parametrize("rank,needle", [(10, "<= 9"), ([2, 3], "integer rank"), (True, "integer rank"), (None, "integer rank")])
def test_bad_ranks_are_refused(rank, needle):
    spec = reference_spec("mnist", "conv").to_dict()
    spec["layers"]["block2.conv1"] = {"family": "decef", "rank": rank} if rank is not None else {"family": "decef"}
    with pytest.raises(ValueError, match=needle):
        ModelSpec.from_dict(spec)


def test_a_rank_far_over_the_layer_is_refused():
    with pytest.raises(ValueError, match="light k must be <= 72"):
        reference_spec("mnist", "light", 1000)




def test_a_family_with_two_ranks_fits_without_changing_other_specs(tucker2):
    spec = reference_spec("cifar10", "light", 2).to_dict()
    before = json.dumps(spec)
    spec["layers"]["block2.conv2"] = {"family": "tucker2", "rank": [4, 8]}
    model_spec = ModelSpec.from_dict(spec)
    assert model_spec.to_dict() == spec  # the list form round-trips
    assert json.loads(before)["layers"]["block2.conv1"] == {"family": "light", "rank": 2}  # one-rank specs unchanged
    model = build_model(model_spec)
    assert trainable_params(model.block2.conv2) == tucker2.params(LayerShape(32, 32, 3), (4, 8))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    spec["layers"]["block2.conv2"] = {"family": "tucker2", "rank": [40, 8]}
    with pytest.raises(ValueError, match="r_in must be <= 32"):
        ModelSpec.from_dict(spec)
    spec["layers"]["block2.conv2"] = {"family": "tucker2", "rank": 4}
    with pytest.raises(ValueError, match=r"ranks \[r_in, r_out\]"):
        ModelSpec.from_dict(spec)


def test_labels_name_family_and_rank():
    assert get_family("conv", "light").label((3,)) == "light k=3"
    assert get_family("conv", "decef").label((2,)) == "decef r=2"
    assert get_family("conv", "separable").label(()) == "separable"
