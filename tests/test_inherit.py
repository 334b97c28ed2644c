"""A network inherited from a trained dense parent: at full rank it computes the parent's function before any step."""

from dataclasses import replace

import pytest
import torch

from lightlayers import LayerChoice, build_model, count_model, energy_kept, inherit, reference_spec
from lightlayers.families import families
from ranksearch.space import params_for
from ranksearch.config import WARM_SHARES as SHARES
from ranksearch.starts import Spectra, compact_separable_layers, warm_params


def full_rank(slot, family) -> int:
    """The rank at which a family reproduces any dense layer of the slot's shape."""
    s = slot.shape
    if family.name == "decef":
        return s.kernel_size**2
    if slot.kind == "dense":
        return min(s.in_channels, s.out_channels)
    return 2 * min(s.out_channels, s.in_channels * s.kernel_size**2)  # LightConv2d: sign pairs through its ReLU


EXACT = [f for kind in ("conv", "dense") for f in families(kind) if f.name != "separable"]


@pytest.fixture(scope="module")
def parent():
    torch.manual_seed(0)
    model = build_model(reference_spec("cifar10", "conv"))
    model.train()
    with torch.no_grad():  # running statistics that are not the defaults, as a trained parent has
        for _ in range(3):
            model(torch.randn(16, 3, 32, 32))
    return model.eval()


@pytest.mark.parametrize("family", EXACT, ids=[f"{f.kind}-{f.name}" for f in EXACT])
def test_at_full_rank_every_family_computes_the_parents_function(parent, family):
    spec = reference_spec("cifar10", "conv")
    layers = dict(spec.layers)
    for slot in spec.slots():  # every slot of the family's kind, the 1x1 shortcuts included
        if slot.kind == family.kind:
            rank = full_rank(slot, family) if family.takes_rank else None
            if rank is not None:
                rank = min(rank, family.hard_limits(slot.shape)[0])
            layers[slot.name] = LayerChoice(family.name, rank)
    child = inherit(spec.with_layers(layers), parent.state_dict()).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(child(x), parent(x), atol=2e-4, rtol=2e-4)


def test_below_full_rank_the_child_keeps_the_parents_shape_and_fewer_parameters(parent):
    spec = reference_spec("cifar10", "light", 2)
    child = inherit(spec, parent.state_dict())
    assert sum(p.numel() for p in child.parameters()) < sum(p.numel() for p in parent.parameters())
    assert child(torch.randn(2, 3, 32, 32)).shape == (2, 10) and child.spec is spec


def test_a_parent_that_does_not_fit_or_holds_nan_is_refused(parent):
    other = build_model(reference_spec("mnist", "conv")).state_dict()
    with pytest.raises(ValueError, match="the parent's weights do not fit this network"):
        inherit(reference_spec("cifar10", "separable"), other)
    broken = {k: v.clone() for k, v in parent.state_dict().items()}
    broken["block2.conv1.weight"][0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        inherit(reference_spec("cifar10", "separable"), broken)


def test_the_compact_separable_start_is_the_separable_network_made_smaller_and_keeps_the_1x1_convolutions_exact(parent):
    template = reference_spec("cifar10", "conv")
    layers = compact_separable_layers(template, "all")
    assert {n: c.family for n, c in layers.items() if n.endswith("shortcut")} == dict.fromkeys(
        ("block1.shortcut", "block2.shortcut", "block3.shortcut"), "conv")
    assert {c.family for n, c in layers.items() if not n.endswith("shortcut")} == {"separable", "linear"}
    compact = replace(template, layers=layers)
    assert sum(p.numel() for p in build_model(compact).parameters()) < sum(
        p.numel() for p in build_model(reference_spec("cifar10", "separable")).parameters())
    child = inherit(compact, parent.state_dict())  # the dense slots are the parent's own layers
    assert torch.equal(child.get_submodule("block3.shortcut").weight, parent.get_submodule("block3.shortcut").weight)
    assert warm_params(template, "all", parent)[0] == params_for(template, "all", layers)
    assert compact_separable_layers(template, "light") is None  # no separable in the space: no such start


@pytest.mark.parametrize("share", SHARES)
def test_a_share_start_keeps_the_most_energy_it_can_add_within_its_budget(parent, share):
    template = reference_spec("cifar10", "conv")
    spectra = Spectra(template, "all", parent)
    budget = spectra.budget(share)
    layers = spectra.layers_allocated(budget)
    spent = spectra.params(layers)
    assert spent <= budget
    assert count_model(build_model(replace(template, layers=layers))).trainable_params <= share * count_model(parent).trainable_params
    assert spent == sum(p.numel() for s in template.slots()
                        for p in build_model(replace(template, layers=layers)).get_submodule(s.name).parameters())
    for slot in template.slots():  # the greedy stopped because no layer's next step fits what is left
        options = spectra.choices(slot)
        at = [o[2] for o in options].index(layers[slot.name])
        assert all(cost - options[at][0] > budget - spent for cost, _, _ in options[at + 1:])
        if slot.kind != "dense":  # energies compared per input channel where the space has DeCEF
            assert {o[2].family for o in options} <= {"conv", "separable", "decef"}
    kept = energy_kept(replace(template, layers=layers), parent.state_dict())
    fitting = [lv for lv in (spectra.layers_at(e / 64) for e in range(1, 65)) if spectra.params(lv) <= spent]
    level = max(fitting, key=spectra.params)  # one energy level for every layer, as the share starts were before
    assert sum(kept.values()) > sum(energy_kept(replace(template, layers=level), parent.state_dict()).values())
    assert params_for(template, "all", layers) in warm_params(template, "all", parent)
    assert spectra.layers_allocated(10) is None  # not even the cheapest choices fit


def test_warm_shares_choose_the_allocated_starts_and_their_order(parent):
    template = reference_spec("cifar10", "conv")
    spectra = Spectra(template, "all", parent)
    at = {share: params_for(template, "all", spectra.layers_allocated(spectra.budget(share))) for share in (0.3, 0.2)}
    warm = warm_params(template, "all", parent, (0.3, 0.2))
    assert warm[1:3] == [at[0.3], at[0.2]]  # after the compact separable start, in the order given
    assert at[0.3] not in warm_params(template, "all", parent)  # not a default share
