import pytest
import torch
from torch import nn

from lightlayers import DeCEFConv2d, LightConv2d, LightLinear, SeparableConv2d, flops_by_module, trainable_params

C, F, S = 5, 7, 3


def make(family: str, stride: int = 1, rank: int = 2) -> nn.Module:
    if family == "conv":
        return nn.Conv2d(C, F, S, stride, padding=S // 2)
    if family == "separable":
        return SeparableConv2d(C, F, S, stride=stride)
    if family == "light":
        return LightConv2d(C, F, S, rank, stride=stride)
    return DeCEFConv2d(C, F, S, rank, stride=stride)


@pytest.mark.parametrize("c,f,s", [(1, 8, 3), (16, 32, 3), (32, 64, 1), (3, 5, 5)])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_parameter_formulas(c, f, s, k):
    assert trainable_params(LightConv2d(c, f, s, k)) == s * s * c * k + k + s * s * k * f + f
    assert trainable_params(SeparableConv2d(c, f, s)) == s * s * c + c * f + f
    assert trainable_params(LightLinear(c * 4, f, k)) == c * 4 * k + k * f + f
    if k <= s * s:
        assert trainable_params(DeCEFConv2d(c, f, s, k)) == s * s * c * k + c * k * f + f


def test_decef_rank_one_has_separable_parameter_count():
    for c, f, s in [(3, 16, 3), (16, 32, 3), (8, 8, 5)]:
        assert trainable_params(DeCEFConv2d(c, f, s, 1)) == trainable_params(SeparableConv2d(c, f, s))


@pytest.mark.parametrize("family", ["conv", "separable", "light", "decef"])
@pytest.mark.parametrize("stride", [1, 2])
def test_forward_shape_and_gradients(family, stride):
    layer = make(family, stride)
    x = torch.randn(2, C, 9, 10, requires_grad=True)
    y = layer(x)
    assert y.shape == (2, F, -(-9 // stride), -(-10 // stride))
    y.square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_light_conv_applies_stride_on_first_subconvolution_only():
    layer = LightConv2d(C, F, S, rank=2, stride=2)
    assert layer.reduce.stride == (2, 2) and layer.expand.stride == (1, 1)


def test_light_linear_equals_linear_with_product_weight():
    layer = LightLinear(12, 5, rank=3)
    dense = nn.Linear(12, 5)
    with torch.no_grad():
        dense.weight.copy_((layer.weight1 @ layer.weight2).T)
        dense.bias.copy_(layer.bias)
    x = torch.randn(4, 12)
    torch.testing.assert_close(layer(x), dense(x))


def test_decef_full_rank_reproduces_any_conv2d_from_its_svd():
    torch.manual_seed(0)
    c, f, s = 4, 12, 3
    conv = nn.Conv2d(c, f, s, padding=1)
    layer = DeCEFConv2d(c, f, s, rank=s * s)
    with torch.no_grad():
        for i in range(c):
            u, sigma, vt = torch.linalg.svd(conv.weight[:, i].reshape(f, s * s), full_matrices=False)
            layer.depthwise.weight[i * s * s:(i + 1) * s * s, 0] = vt.reshape(s * s, s, s)
            layer.pointwise.weight[:, i * s * s:(i + 1) * s * s, 0, 0] = u * sigma
        layer.pointwise.bias.copy_(conv.bias)
    x = torch.randn(2, c, 11, 11)
    torch.testing.assert_close(layer(x), conv(x), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("stride,padding,size", [(1, "same", 9), (2, 1, 9), (2, "valid", 10), (1, 0, 7)])
def test_decef_dense_kernel_computes_its_two_factor_convolutions(stride, padding, size):
    """The forward pass runs one dense kernel; the layer is defined as depthwise then pointwise."""
    torch.manual_seed(0)
    layer = DeCEFConv2d(5, 7, 3, rank=2, stride=stride, padding=padding)
    assert layer.runs_dense
    x = torch.randn(3, 5, size, size, requires_grad=True)
    y = layer(x)
    torch.testing.assert_close(y, layer.pointwise(layer.depthwise(x)), atol=1e-5, rtol=1e-4)
    y.square().sum().backward()
    grads = [p.grad.clone() for p in (x, layer.depthwise.weight, layer.pointwise.weight)]
    for p in (x, layer.depthwise.weight, layer.pointwise.weight):
        p.grad = None
    layer.pointwise(layer.depthwise(x)).square().sum().backward()
    for got, want in zip(grads, (x.grad, layer.depthwise.weight.grad, layer.pointwise.weight.grad)):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("c,f,r", [(6, 10, 2), (6, 64, 1)])
def test_decef_flops_are_those_of_its_factors_whichever_way_it_runs(c, f, r):
    s, size = 3, 8
    layer = DeCEFConv2d(c, f, s, r, stride=2)
    assert layer.runs_dense == (r == 2)
    out = (size + 1) // 2
    assert flops_by_module(nn.Sequential(layer), (c, size, size)) == {"0": out * out * (c * r * s * s + c * r * f)}


def test_decef_runs_its_factors_where_the_dense_kernel_costs_more():
    torch.manual_seed(0)
    layer = DeCEFConv2d(8, 256, 3, rank=1)
    assert not layer.runs_dense
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(layer(x), torch.nn.functional.conv2d(x, layer.kernel(), layer.pointwise.bias, padding=1), atol=1e-5, rtol=1e-4)


def _output_variance(make_layer, shape, seeds=8) -> float:
    out = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        layer = make_layer()
        with torch.no_grad():
            out.append(layer(torch.randn(*shape)).var().item())
    return sum(out) / len(out)


@pytest.mark.parametrize(
    "factorised,dense,shape",
    [
        (lambda: LightConv2d(16, 32, 3, 4), lambda: nn.Conv2d(16, 32, 3, padding=1), (8, 16, 16, 16)),
        (lambda: DeCEFConv2d(16, 32, 3, 3), lambda: nn.Conv2d(16, 32, 3, padding=1), (8, 16, 16, 16)),
        (lambda: SeparableConv2d(16, 32, 3), lambda: nn.Conv2d(16, 32, 3, padding=1), (8, 16, 16, 16)),
        (lambda: LightLinear(64, 32, 8), lambda: nn.Linear(64, 32), (512, 64)),
    ],
)
def test_initialisation_keeps_the_dense_layers_output_variance(factorised, dense, shape):
    ratio = _output_variance(factorised, shape) / _output_variance(dense, shape)
    assert 0.75 < ratio < 1.33, ratio


@pytest.mark.parametrize(
    "build,bad",
    [
        (lambda: LightConv2d(3, 8, 3, 0), "0"),
        (lambda: LightConv2d(3, 8, 3, 2.5), "2.5"),
        (lambda: LightLinear(3, 8, -1), "-1"),
        (lambda: LightLinear(3, 8, "4"), "'4'"),
        (lambda: DeCEFConv2d(3, 8, 3, 10), "10"),
        (lambda: DeCEFConv2d(3, 8, 3, 2, stride=0), "0"),
        (lambda: SeparableConv2d(0, 8, 3), "0"),
        (lambda: LightConv2d(3, 8, 3, 1, padding="full"), "'full'"),
    ],
)
def test_impossible_arguments_raise_value_error_naming_the_value(build, bad):
    with pytest.raises(ValueError, match=bad.replace(".", r"\.")):
        build()


def test_repr_shows_the_rank():
    text = repr(nn.Sequential(LightConv2d(3, 8, 3, 4), DeCEFConv2d(8, 8, 3, 2), LightLinear(8, 2, 5)))
    assert "rank=4" in text and "rank=2" in text and "rank=5" in text
