import json
import re
import subprocess
import sys

import pytest
import torch

from conftest import ROOT
from lightlayers import (
    ModelSpec,
    build_model,
    count_model,
    effective_rank,
    effective_ranks,
    flops,
    keras_params,
    reference_spec,
    trainable_params,
)
from lightlayers.paper import paper_results

# The LightLayers paper's tables (Keras convention: trainable + BatchNorm moving statistics), as cited in lightlayers.paper.
PAPER_TABLE = [(r.dataset, r.family, r.k, r.keras_params) for r in paper_results()]


def test_the_paper_table_covers_its_four_datasets():
    assert {r[0] for r in PAPER_TABLE} == {"mnist", "fashion-mnist", "cifar10", "cifar100"}
    assert len([r for r in PAPER_TABLE if r[0] == "cifar10"]) == 2 + 5


@pytest.mark.parametrize("dataset,family,rank,expected", PAPER_TABLE)
def test_paper_parameter_counts(dataset, family, rank, expected):
    assert keras_params(build_model(reference_spec(dataset, family, rank))) == expected


@pytest.mark.parametrize("family,rank", [("conv", None), ("separable", None), ("light", 3)])
def test_cifar100_is_cifar10_with_a_100_class_head(family, rank):
    c10 = keras_params(build_model(reference_spec("cifar10", family, rank)))
    c100 = keras_params(build_model(reference_spec("cifar100", family, rank)))
    head_in = 64
    per_class = (8 if family == "light" else head_in) + 1
    assert c100 - c10 == 90 * per_class


ALL = [(d, f, r) for d in ("mnist", "cifar10", "cifar100") for f, r in [("conv", None), ("separable", None), ("light", 2), ("decef", 3)]]


@pytest.mark.parametrize("dataset,family,rank", ALL)
def test_every_reference_model_runs_and_learns(dataset, family, rank):
    spec = reference_spec(dataset, family, rank)
    model = build_model(spec)
    x = torch.randn(4, spec.in_channels, spec.image_size, spec.image_size)
    y = model(x)
    assert y.shape == (4, spec.num_classes)
    y.logsumexp(1).mean().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("dataset,family,rank", ALL)
def test_spec_json_round_trip(dataset, family, rank):
    spec = reference_spec(dataset, family, rank)
    text = json.dumps(spec.to_dict())
    again = ModelSpec.from_dict(json.loads(text))
    assert again == spec
    assert json.dumps(again.to_dict()) == text


def test_mixed_spec_round_trip_and_build():
    spec = reference_spec("cifar10", "light", 2)
    data = spec.to_dict()
    data["layers"]["block2.conv1"] = {"family": "decef", "rank": 4}
    data["layers"]["block3.conv2"] = {"family": "conv"}
    data["layers"]["head"] = {"family": "linear"}
    mixed = ModelSpec.from_dict(data)
    assert mixed.to_dict() == data
    assert "rank=4" in repr(build_model(mixed))


def test_build_model_reads_a_spec_or_an_exported_point_from_its_file(tmp_path):
    spec = reference_spec("mnist", "light", 2)
    (tmp_path / "spec.json").write_text(json.dumps(spec.to_dict()))
    (tmp_path / "point.json").write_text(json.dumps({"model": spec.to_dict(), "seed": 0}))
    expected = trainable_params(build_model(spec))
    assert trainable_params(build_model(tmp_path / "spec.json")) == trainable_params(build_model(str(tmp_path / "point.json"))) == expected


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: d["layers"].pop("head"), "head"),
        (lambda d: d["layers"].__setitem__("block1.conv1", {"family": "dense"}), "dense"),
        (lambda d: d["layers"].__setitem__("block1.conv1", {"family": "light"}), "rank"),
        (lambda d: d["layers"].__setitem__("block1.conv1", {"family": "conv", "rank": 3}), "takes no rank"),
        (lambda d: d["layers"].__setitem__("block9.conv1", {"family": "conv"}), "block9.conv1"),
        (lambda d: d.__setitem__("architecture", "dense"), "architecture"),
        (lambda d: d.__setitem__("widths", []), "widths"),
    ],
)
def test_bad_specs_raise_value_error(edit, message):
    data = reference_spec("cifar10", "light", 2).to_dict()
    edit(data)
    with pytest.raises(ValueError, match=message):
        ModelSpec.from_dict(data)


def test_per_layer_counts_add_up():
    model = build_model(reference_spec("cifar10", "light", 3))
    counts = count_model(model)
    bn = sum(p.numel() for n, p in model.named_parameters() if "bn" in n)
    assert sum(r.params for r in counts.layers) + bn == counts.trainable_params == trainable_params(model)
    assert sum(r.flops for r in counts.layers) == counts.flops == flops(model, (3, 32, 32))


def test_the_readmes_layer_examples_run_and_print_what_their_comments_say():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Layers in your own code"):text.index("## Train one configuration")]
    code = "\n".join(re.findall(r"```python\n(.*?)```", section, re.S))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "1764" and "13247" in lines  # the counts the comments give
    dense, small, small_flops = map(int, lines[-1].split())  # the factorised ResNet-18: fewer parameters
    assert small < dense and small_flops > 0


def test_count_model_of_a_network_without_a_spec_says_what_counts_it():
    with pytest.raises(ValueError, match=r"not a Sequential; for any network use trainable_params\(model\) and flops"):
        count_model(torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_flops_of_a_conv_model_by_hand():
    # block1 at 32x32: conv1 3->16 and conv2 16->16 (3x3), shortcut 3->16 (1x1); then 16x16, 8x8.
    expected = (
        32 * 32 * 16 * (27 + 144 + 3)
        + 16 * 16 * 32 * (144 + 288 + 16)
        + 8 * 8 * 64 * (288 + 576 + 32)
        + 64 * 10
    )
    assert count_model(build_model(reference_spec("cifar10", "conv"))).flops == expected


def test_light_model_uses_fewer_flops_than_conv():
    light = count_model(build_model(reference_spec("cifar10", "light", 1))).flops
    conv = count_model(build_model(reference_spec("cifar10", "conv"))).flops
    assert light < conv


def _weight_of_rank(f, c, s, r, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.einsum("cfr,crk->fck", torch.randn(c, f, r, generator=g), torch.randn(c, r, s * s, generator=g)).reshape(f, c, s, s)


@pytest.mark.parametrize("r", [1, 2, 4, 9])
def test_effective_rank_of_known_rank_weights(r):
    w = _weight_of_rank(16, 8, 3, r)
    assert effective_rank(w, energy=0.9999) == r
    assert effective_rank(w, energy=0.5) <= r


def test_effective_ranks_of_a_model_falls_with_planted_rank():
    model = build_model(reference_spec("mnist", "conv"))
    with torch.no_grad():
        model.block2.conv1.weight.copy_(_weight_of_rank(16, 8, 3, 2))
        model.block3.conv2.weight.copy_(_weight_of_rank(32, 32, 3, 1))
    ranks = effective_ranks(model, energy=0.9999)
    assert ranks["block2.conv1"] == 2 and ranks["block3.conv2"] == 1
    assert set(ranks) == {f"block{i}.conv{j}" for i in (1, 2, 3) for j in (1, 2)}


def test_effective_rank_rejects_bad_energy():
    with pytest.raises(ValueError, match="1.5"):
        effective_rank(torch.randn(4, 4, 3, 3), energy=1.5)
