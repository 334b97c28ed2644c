"""factorize: list and replace the layers of any PyTorch model, over every registered family."""

import re

import pytest
import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from lightlayers import (
    LayerShape,
    LightConv2d,
    decef_from_conv,
    factorize,
    flops,
    flops_by_module,
    get_family,
    layer_shape,
    light_conv_from_conv,
    light_linear_from_linear,
    replaceable_layers,
    separable_from_conv,
    trainable_params,
)
from lightlayers.families import dense_family, families


class ScaledConv(nn.Conv2d):
    """A Conv2d subclass that computes something else: it must not be replaced."""

    def forward(self, x):
        return 2 * super().forward(x)


class UserNet(nn.Module):
    """One layer of every kind the listing keeps or skips."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.down = nn.Conv2d(8, 16, 5, stride=2, padding=2, bias=False)
        self.same = nn.Conv2d(16, 16, 3, padding="same")
        self.valid = nn.Conv2d(16, 16, 3, padding=0)
        self.depthwise = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.pointwise = nn.Conv2d(16, 16, 1)
        self.dilated = nn.Conv2d(16, 16, 3, padding=2, dilation=2)
        self.tall = nn.Conv2d(16, 16, (3, 1), padding=(1, 0))
        self.reflect = nn.Conv2d(16, 16, 3, padding=1, padding_mode="reflect")
        self.even_same = nn.Conv2d(16, 16, 4, padding="same")
        self.custom = ScaledConv(16, 16, 3, padding=1)
        self.wide_stride = nn.Conv2d(16, 16, 3, stride=(1, 2), padding=1)
        self.unused = nn.Conv2d(16, 16, 3, padding=1)
        self.fc1 = nn.Linear(16, 32)
        self.tied = nn.Linear(32, 10)  # its weight is read, the module is never called

    def forward(self, x):
        for name in ("stem", "down", "same", "valid", "depthwise", "pointwise", "dilated", "tall", "reflect",
                     "even_same", "custom", "wide_stride"):
            x = getattr(self, name)(x)
        x = F.relu(self.fc1(x.mean((2, 3))))
        return F.linear(x, self.tied.weight, self.tied.bias)


MODELS = {
    "resnet18": (lambda: torchvision.models.resnet18(weights=None), (3, 32, 32)),
    "mobilenet_v3_small": (lambda: torchvision.models.mobilenet_v3_small(weights=None), (3, 32, 32)),
    "user": (UserNet, (3, 16, 16)),
}


@pytest.fixture(scope="module")
def built():
    """Each model once, in eval mode, with its listing; tests must not change them."""
    out = {}
    for name, (make, shape) in MODELS.items():
        torch.manual_seed(0)
        model = make().eval()
        out[name] = (model, shape, replaceable_layers(model, shape))
    return out


def _expected_paths(model):
    """The layers the rules keep, counted independently of factorize (every one is called here)."""
    return [
        name for name, m in model.named_modules()
        if type(m) is nn.Linear
        or (type(m) is nn.Conv2d and m.groups == 1 and m.kernel_size[0] > 1 and m.dilation == (1, 1))
    ]


def test_resnet18_lists_its_17_kxk_convolutions_and_its_head(built):
    model, _, layers = built["resnet18"]
    paths = [layer.path for layer in layers]
    assert paths == _expected_paths(model)
    assert sum(layer.kind == "conv" for layer in layers) == 17 and paths[-1] == "fc"
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert sorted(set(convs) - set(paths)) == ["layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"]
    assert layers[0].shape == LayerShape(3, 64, 7, stride=2, bias=False)


def test_mobilenet_lists_its_stem_and_classifier_and_skips_depthwise_and_1x1(built):
    model, _, layers = built["mobilenet_v3_small"]
    assert [layer.path for layer in layers] == ["features.0.0", "classifier.0", "classifier.3"]
    assert [layer.path for layer in layers] == _expected_paths(model)
    depthwise = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 11 and all(m.groups == m.in_channels for m in depthwise)


def test_user_module_lists_shapes_params_and_flops(built):
    _, _, layers = built["user"]
    got = {layer.path: (layer.shape, layer.params, layer.flops) for layer in layers}
    assert got == {
        "stem": (LayerShape(3, 8, 3), 3 * 8 * 9 + 8, 16 * 16 * 8 * 3 * 9),
        "down": (LayerShape(8, 16, 5, stride=2, bias=False), 8 * 16 * 25, 8 * 8 * 16 * 8 * 25),
        "same": (LayerShape(16, 16, 3), 16 * 16 * 9 + 16, 8 * 8 * 16 * 16 * 9),
        "valid": (LayerShape(16, 16, 3, padding=0), 16 * 16 * 9 + 16, 6 * 6 * 16 * 16 * 9),
        "fc1": (LayerShape(16, 32), 16 * 32 + 32, 16 * 32),
    }


@pytest.mark.parametrize("path,words", [
    ("depthwise", "grouped convolution (groups=16)"),
    ("pointwise", "1x1 convolution"),
    ("dilated", "dilated"),
    ("tall", "kernel 3x1 is not square"),
    ("reflect", "'reflect'"),
    ("even_same", "not the same on every side"),
    ("custom", "it is a ScaledConv"),
    ("wide_stride", "stride (1, 2) is not square"),
])
def test_a_skipped_layer_says_why(built, path, words):
    model = built["user"][0]
    with pytest.raises(ValueError, match=f"{path} cannot be replaced: .*{re.escape(words)}"):
        layer_shape(model.get_submodule(path), path)
    with pytest.raises(ValueError, match=re.escape(words)):
        factorize(model, {path: ("separable", None)})


def test_a_layer_the_forward_pass_never_calls_is_not_listed(built):
    paths = [layer.path for layer in built["user"][2]]
    assert "unused" not in paths and "tied" not in paths


@pytest.mark.parametrize("name", MODELS)
def test_rank_ranges_come_from_the_registry(built, name):
    for layer in built[name][2]:
        assert layer.params == dense_family(layer.kind).params(layer.shape, ())
        assert list(layer.ranks) == [f.name for f in families(layer.kind)]
        for family in families(layer.kind):
            if not family.takes_rank:
                assert layer.ranks[family.name] is None
                continue
            lo, hi = layer.ranks[family.name]
            assert lo == 1 and 1 <= hi <= family.hard_limits(layer.shape)[0]
            assert hi == max(1, family.break_even(layer.shape))


def _highest(layer, family):
    return layer.ranks[family.name][1] if family.takes_rank else None


EVERY_FAMILY = [(m, f) for m in MODELS for kind in ("conv", "dense") for f in families(kind)]


@pytest.mark.parametrize("name,family", EVERY_FAMILY, ids=[f"{m}-{f.kind}-{f.name}" for m, f in EVERY_FAMILY])
def test_every_family_replaces_every_listed_layer(built, name, family):
    model, shape, layers = built[name]
    chosen = [layer for layer in layers if layer.kind == family.kind]
    new = factorize(model, {layer.path: (family.name, _highest(layer, family)) for layer in chosen})
    x = torch.randn(2, *shape)
    with torch.no_grad():
        assert new(x).shape == model(x).shape

    new_params = 0
    for layer in chosen:
        ranks = family.ranks_of(_highest(layer, family))
        assert trainable_params(new.get_submodule(layer.path)) == family.params(layer.shape, ranks), layer.path
        new_params += family.params(layer.shape, ranks)
    assert trainable_params(new) == trainable_params(model) - sum(layer.params for layer in chosen) + new_params

    per_module = flops_by_module(new, shape)
    new_flops = [sum(v for k, v in per_module.items() if k == layer.path or k.startswith(layer.path + "."))
                 for layer in chosen]
    assert all(f > 0 for f in new_flops)
    assert flops(new, shape) == flops(model, shape) - sum(layer.flops for layer in chosen) + sum(new_flops)


@pytest.mark.parametrize("name", MODELS)
def test_listed_flops_are_those_of_lightlayers_flops(built, name):
    model, shape, layers = built[name]
    per_module = flops_by_module(model, shape)
    assert all(layer.flops > 0 and layer.flops == per_module[layer.path] for layer in layers)
    assert sum(layer.flops for layer in layers) <= flops(model, shape)


def test_the_original_model_is_untouched():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    modules = [(n, id(m)) for n, m in model.named_modules()]
    layers = replaceable_layers(model, (3, 32, 32))
    assert model.training  # the listing's eval-mode pass restored the mode
    choices = {layers[0].path: ("decef", 3), layers[1].path: ("light", 2), layers[2].path: ("separable", None), "fc": ("light", 8)}
    for init in ("random", "svd"):
        new = factorize(model, choices, init=init)
        assert new is not model and isinstance(new.layer1[0].conv1, LightConv2d)
    assert [(n, id(m)) for n, m in model.named_modules()] == modules
    after = model.state_dict()
    assert after.keys() == state.keys() and all(torch.equal(after[k], v) for k, v in state.items())


def test_new_layers_keep_the_replaced_layers_dtype_device_and_mode():
    torch.manual_seed(0)
    model = UserNet().double().eval()
    choices = {"stem": ("decef", 9), "down": ("light", 3), "same": ("separable", None), "fc1": ("light", 16)}
    for init in ("random", "svd"):
        new = factorize(model, choices, init=init)
        for path in choices:
            layer, old = new.get_submodule(path), model.get_submodule(path)
            assert all(p.dtype == torch.float64 and p.device == old.weight.device for p in layer.parameters())
            assert not layer.training
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(factorize(model, {"stem": ("decef", 9), "fc1": ("light", 16)}, init="svd")(x), model(x))


def _rel_error(layer, dense, x):
    with torch.no_grad():
        y = dense(x)
        return ((layer(x) - y).norm() / y.norm()).item()


@pytest.mark.parametrize("c,f,s,stride,padding,bias", [
    (4, 12, 3, 1, 1, True),
    (4, 12, 3, 2, 1, False),
    (3, 16, 5, 2, 2, True),
    (5, 6, 3, 1, 0, True),
    (3, 4, 3, 2, 1, True),  # f < s*s: fewer singular vectors than eigen-filters
])
def test_decef_from_conv_reproduces_the_conv_at_full_rank(c, f, s, stride, padding, bias):
    torch.manual_seed(0)
    conv = nn.Conv2d(c, f, s, stride, padding, bias=bias)
    x = torch.randn(2, c, 11, 11)
    layer = decef_from_conv(conv, s * s)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), conv(x), atol=1e-5, rtol=1e-5)
    errors = [_rel_error(decef_from_conv(conv, r), conv, x) for r in range(1, s * s + 1)]
    assert all(a > b for a, b in zip(errors, errors[1:]) if a > 1e-6), errors
    assert _rel_error(separable_from_conv(conv), conv, x) == pytest.approx(errors[0], abs=1e-6)


def test_decef_from_conv_keeps_the_per_channel_eigen_filter_layout():
    torch.manual_seed(0)
    c, f, s, r = 3, 8, 3, 2
    conv = nn.Conv2d(c, f, s, padding=1)
    layer = decef_from_conv(conv, r)
    for i in range(c):
        u, sigma, vt = torch.linalg.svd(conv.weight[:, i].detach().reshape(f, s * s), full_matrices=False)
        depthwise = layer.depthwise.weight[i * r:(i + 1) * r, 0].reshape(r, s * s).detach()
        pointwise = layer.pointwise.weight[:, i * r:(i + 1) * r, 0, 0].detach()
        torch.testing.assert_close(pointwise @ depthwise, (u[:, :r] * sigma[:r]) @ vt[:r], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(layer.pointwise.bias, conv.bias)


@pytest.mark.parametrize("n_in,n_out,bias", [(20, 7, True), (6, 15, False)])
def test_light_linear_from_linear_reproduces_the_linear_at_full_rank(n_in, n_out, bias):
    torch.manual_seed(0)
    linear = nn.Linear(n_in, n_out, bias=bias)
    x = torch.randn(16, n_in)
    full = min(n_in, n_out)
    with torch.no_grad():
        torch.testing.assert_close(light_linear_from_linear(linear, full)(x), linear(x), atol=1e-5, rtol=1e-5)
    errors = [_rel_error(light_linear_from_linear(linear, k), linear, x) for k in range(1, full + 1)]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors


@pytest.mark.parametrize("c,f,s,stride,padding", [(4, 6, 3, 1, 1), (3, 8, 5, 2, 2), (2, 5, 4, 1, 1)])
def test_light_conv_from_conv_passes_the_relu_as_sign_pairs(c, f, s, stride, padding):
    torch.manual_seed(0)
    conv = nn.Conv2d(c, f, s, stride, padding)
    x = torch.randn(2, c, 12, 12)
    exact = 2 * min(f, c * s * s)  # every component of the kernel, once with each sign
    for k in (exact, exact + 1):
        with torch.no_grad():
            torch.testing.assert_close(light_conv_from_conv(conv, k)(x), conv(x), atol=1e-5, rtol=1e-5)
    errors = [_rel_error(light_conv_from_conv(conv, k), conv, x) for k in range(1, exact + 1)]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors


def test_light_conv_svd_init_is_closer_to_the_conv_than_random_init():
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 16, 3, padding=1)
    x = torch.randn(2, 16, 12, 12)
    light = get_family("conv", "light")
    hi = light.break_even(layer_shape(conv))
    for k in (1, hi // 2, hi):
        svd = _rel_error(light_conv_from_conv(conv, k), conv, x)
        random = _rel_error(light.build(layer_shape(conv), (k,)), conv, x)
        assert svd < 1 < random, (k, svd, random)


@pytest.mark.parametrize("build,words", [
    (lambda: decef_from_conv(nn.Linear(4, 4), 1), "expected an nn.Conv2d"),
    (lambda: light_linear_from_linear(nn.Conv2d(4, 4, 3), 1), "expected an nn.Linear"),
    (lambda: decef_from_conv(nn.Conv2d(4, 4, 1), 1), "1x1 convolution"),
    (lambda: decef_from_conv(nn.Conv2d(4, 4, 3), 10), "decef r must be <= 9"),
    (lambda: light_linear_from_linear(nn.Linear(4, 8), 5), "light k must be <= 4"),
])
def test_the_from_dense_functions_refuse_bad_input(build, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        build()


@pytest.mark.parametrize("choices,words", [
    ({"layer9.conv1": ("decef", 3)}, ["no module 'layer9.conv1'", "conv1, layer1.0.conv1", "(18 in all)"]),
    ({"layer1.0": ("decef", 3)}, ["layer1.0 cannot be replaced", "BasicBlock"]),
    ({"layer2.0.downsample.0": ("decef", 1)}, ["layer2.0.downsample.0 cannot be replaced", "1x1 convolution"]),
    ({"layer1.0.conv1": ("decef", 10)}, ["layer1.0.conv1", "decef r must be <= 9", "got 10"]),
    ({"fc": ("light", 1000)}, ["fc", "light k must be <= 512"]),
    ({"layer1.0.conv1": ("tucker", 2)}, ["layer1.0.conv1", "unknown conv family 'tucker'", "separable, light, decef"]),
    ({"fc": ("decef", 2)}, ["unknown dense family 'decef'"]),
    ({"fc": "light"}, ["fc", "(family name, rank)"]),
    ({"fc": ("light", None)}, ["light needs an integer rank"]),
    ({"layer1.0.conv1": ("separable", 3)}, ["separable takes no rank"]),
])
def test_bad_choices_are_one_clear_value_error(built, choices, words):
    with pytest.raises(ValueError) as error:
        factorize(built["resnet18"][0], choices)
    assert all(w in str(error.value) for w in words), str(error.value)


def test_an_unknown_init_is_refused(built):
    with pytest.raises(ValueError, match="init must be one of 'random', 'svd', got 'exact'"):
        factorize(built["user"][0], {}, init="exact")


def test_the_model_itself_can_be_the_replaced_layer():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, 3, padding=1)
    layer = factorize(conv, {"": ("decef", 9)}, init="svd")
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), conv(x), atol=1e-5, rtol=1e-5)




def test_a_newly_registered_family_works_unchanged(tucker2):
    model = UserNet()
    layers = {layer.path: layer for layer in replaceable_layers(model, (3, 16, 16))}
    assert layers["down"].ranks["tucker2"] == ((1, 1), (8, 16))
    new = factorize(model, {"down": ("tucker2", (2, 3))})
    assert trainable_params(new.down) == tucker2.params(layers["down"].shape, (2, 3))
    assert new(torch.randn(1, 3, 16, 16)).shape == (1, 10)
    with pytest.warns(UserWarning, match="down: no initialisation from a dense layer is known for TwoRankConv"):
        factorize(model, {"down": ("tucker2", (2, 3))}, init="svd")
    with pytest.raises(ValueError, match="r_in must be <= 8"):
        factorize(model, {"down": ("tucker2", (9, 3))})
