"""A thinner reference network inherited from a wider trained one keeps its strongest channels."""

from dataclasses import replace

import pytest
import torch

from lightlayers import LayerChoice, build_model, energy_kept, inherit, parent_network, reference_spec
from lightlayers.thinning import state_widths, thin_state


def switched_off(width: int, keep: float) -> torch.Tensor:
    """A random mask of the channels outside a ``keep`` share."""
    dead = torch.ones(width, dtype=torch.bool)
    dead[torch.randperm(width)[: round(width * keep)]] = False
    return dead


def trained_like(dataset: str, keep: float, seed: int = 0):
    """A dense reference network whose BatchNorms switch off all but a ``keep`` share of each block's
    channels (gamma and beta 0 there; the shortcut's the same as conv2's, which it adds into), with
    running statistics that are not the defaults."""
    torch.manual_seed(seed)
    spec = reference_spec(dataset, "conv")
    model = build_model(spec).train()
    with torch.no_grad():
        model(torch.randn(16, spec.in_channels, spec.image_size, spec.image_size))
        for i, width in enumerate(spec.widths, start=1):
            block = getattr(model, f"block{i}")
            outer = switched_off(width, keep)
            norms = [(block.bn1, switched_off(width, keep)), (block.bn2, outer)]
            if spec.architecture == "residual":
                norms.append((block.shortcut_bn, outer))
            for bn, dead in norms:
                bn.weight[dead] = 0.0
                bn.bias[dead] = 0.0
                bn.weight[~dead] = bn.weight[~dead].abs() + 0.5
    return spec, model.eval()


@pytest.mark.parametrize("dataset", ["cifar10", "mnist"])  # residual and plain blocks
def test_a_half_width_network_computes_the_parents_function_when_the_parent_uses_only_half_its_channels(dataset):
    spec, parent = trained_like(dataset, 0.5)
    thin = replace(spec, widths=tuple(w // 2 for w in spec.widths))
    child = inherit(thin, parent.state_dict()).eval()
    assert sum(p.numel() for p in child.parameters()) < sum(p.numel() for p in parent.parameters()) / 2.5
    x = torch.randn(4, spec.in_channels, spec.image_size, spec.image_size)
    with torch.no_grad():
        torch.testing.assert_close(child(x), parent(x), atol=1e-5, rtol=1e-5)


def test_a_thinner_factorised_network_inherits_too_and_the_same_widths_change_nothing():
    spec, parent = trained_like("cifar10", 0.75)
    state = parent.state_dict()
    assert thin_state(spec, state).keys() == state.keys()
    assert all(thin_state(spec, state)[k] is state[k] for k in state)
    thin = replace(reference_spec("cifar10", "light", 3), widths=(12, 24, 48))
    child = inherit(thin, state)
    assert state_widths(child.state_dict()) == (12, 24, 48)
    assert child(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_a_wider_network_cannot_inherit():
    spec, parent = trained_like("cifar10", 1.0)
    wide = replace(spec, widths=(16, 48, 64))
    with pytest.raises(ValueError, match="do not fit this network: .*only a thinner network inherits"):
        inherit(wide, parent.state_dict())


def test_a_thinner_network_keeps_the_energy_of_its_kept_channels_only():
    spec, parent = trained_like("cifar10", 0.5)
    state = parent.state_dict()
    assert set(energy_kept(spec, state).values()) == {1.0}
    kept = energy_kept(replace(spec, widths=(8, 16, 32)), state)
    assert all(0.0 < v < 1.0 for v in kept.values())
    first = state["block1.conv1.weight"]
    score = state["block1.bn1.weight"].abs()
    rows = torch.topk(score, 8).indices
    expected = float(first[rows].double().square().sum() / first.double().square().sum())
    assert kept["block1.conv1"] == pytest.approx(expected)
    head = LayerChoice("light", 4)
    thin_light = replace(spec, widths=(8, 16, 32))
    thin_light = thin_light.with_layers({**thin_light.layers, "head": head})
    assert energy_kept(thin_light, state)["head"] <= kept["head"]


@pytest.mark.parametrize("thin_widths", [None, (8, 16, 32)])
def test_the_parent_network_of_a_candidate_is_the_trained_dense_network_at_the_states_widths(thin_widths):
    spec, parent = trained_like("cifar10", 0.5, seed=1)
    child = reference_spec("cifar10", "light", 3)
    if thin_widths:
        child = replace(child, widths=thin_widths)
    teacher = parent_network(child, parent.state_dict()).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(teacher(x), parent(x))
