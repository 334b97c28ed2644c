"""The trainer (in process, on tiny data) and `ranksearch train` (the real CLI, in a subprocess)."""

import json

import pytest
from dataclasses import asdict, replace
import torch
import torch.nn.functional as F

from lightlayers import build_model, count_model, reference_spec, reference_spec_for_shape, uniform_spec
from ranksearch.config import DataConfig, TrainConfig, make_recipe
from ranksearch.data import Splits, load_dataset, make_splits
from ranksearch.trainer import accuracy, channel_stats, random_crop_flip, train

from conftest import ranksearch, require_real
from test_data import write_cifar100, write_image, write_image_folder

# torchvision announces that its image codecs will move to TorchCodec; ranksearch.data still uses them.
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")


# --- the trainer, in process -------------------------------------------------------------------


def tiny_splits(channels=1, size=12, classes=4, n_train=96, n_val=24, n_test=24, seed=0) -> Splits:
    """A learnable task: class c brightens quadrant c of a noisy image."""
    gen = torch.Generator().manual_seed(seed)

    def make(n):
        y = torch.arange(n) % classes
        x = torch.randint(0, 80, (n, channels, size, size), generator=gen)
        h = size // 2
        for i, c in enumerate(y.tolist()):
            r, q = divmod(c % 4, 2)
            x[i, :, r * h:(r + 1) * h, q * h:(q + 1) * h] += 150
        return x.clamp(0, 255).to(torch.uint8), y

    return Splits(*make(n_train), *make(n_val), *make(n_test), classes)


def tiny_spec(splits: Splits, family="conv", rank=None):
    return reference_spec_for_shape(splits.in_channels, splits.image_size, splits.num_classes, family, rank)


@pytest.mark.parametrize("channels,family,rank", [(1, "conv", None), (3, "light", 2)], ids=["grey", "rgb-augmented"])
def test_same_seed_is_bitwise_reproducible_and_another_seed_is_not(channels, family, rank):
    splits = tiny_splits(channels=channels)
    spec = tiny_spec(splits, family, rank)
    recipe = make_recipe("fast", "tiny", epochs=2)
    a = train(spec, splits, recipe, seed=0, device="cpu")
    b = train(spec, splits, recipe, seed=0, device="cpu")
    c = train(spec, splits, recipe, seed=1, device="cpu")
    assert a.val_curve == b.val_curve and len(a.val_curve) == 2
    assert a.test_accuracy == b.test_accuracy
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())


def test_training_learns_the_tiny_task():
    splits = tiny_splits()
    result = train(tiny_spec(splits), splits, make_recipe("fast", "tiny", epochs=4), seed=0, device="cpu")
    assert result.val_accuracy >= 0.9 and result.test_accuracy >= 0.9
    assert result.images_per_second > 0 and result.seconds > 0


def test_on_epoch_is_called_once_per_epoch_with_the_validation_accuracy():
    splits = tiny_splits(n_train=64)
    calls, steps = [], []

    def on_epoch(epoch, acc):
        calls.append((epoch, acc))

    result = train(tiny_spec(splits), splits, make_recipe("fast", "tiny", epochs=3), seed=0, device="cpu",
                   on_epoch=on_epoch, on_step=lambda *a: steps.append(a), evaluate_test=False)
    assert [e for e, _ in calls] == [1, 2, 3]
    per_epoch = steps[0][2]
    assert steps == [(e, s, per_epoch) for e in (1, 2, 3) for s in range(1, per_epoch + 1)]
    assert all(isinstance(acc, float) and 0.0 <= acc <= 1.0 for _, acc in calls)
    assert [acc for _, acc in calls] == result.val_curve
    assert result.epochs_run == 3 and result.test_accuracy is None


def test_an_exception_from_on_epoch_stops_training():
    class Stop(Exception):
        pass

    calls = []

    def on_epoch(epoch, acc):
        calls.append(epoch)
        if epoch == 2:
            raise Stop

    splits = tiny_splits(n_train=64)
    with pytest.raises(Stop):
        train(tiny_spec(splits), splits, make_recipe("fast", "tiny", epochs=6), seed=0, device="cpu", on_epoch=on_epoch)
    assert calls == [1, 2]


@pytest.mark.parametrize("recipe", ["fast", "paper"])
def test_a_single_step_of_training_works(recipe):
    """One epoch of one batch (a training set smaller than a batch): the schedule must not divide by zero."""
    splits = tiny_splits(n_train=20)
    result = train(tiny_spec(splits), splits, make_recipe(recipe, "tiny", epochs=1), seed=0, device="cpu")
    assert len(result.val_curve) == 1 and 0.0 <= result.test_accuracy <= 1.0
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


def test_random_crop_flip_keeps_shape_and_is_a_shifted_window_or_its_mirror():
    x = torch.randn(64, 3, 7, 9)
    gen = torch.Generator().manual_seed(0)
    out = random_crop_flip(x, 2, gen)
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = F.pad(x, (2, 2, 2, 2))
    flips = 0
    for i in range(len(x)):
        windows = [padded[i, :, dy:dy + 7, dx:dx + 9] for dy in range(5) for dx in range(5)]
        plain = any(torch.equal(out[i], w) for w in windows)
        mirrored = any(torch.equal(out[i], w.flip(2)) for w in windows)
        assert plain or mirrored
        flips += mirrored and not plain
    assert 0 < flips < len(x)
    assert torch.equal(out, random_crop_flip(x, 2, torch.Generator().manual_seed(0)))


def test_random_crop_flip_keeps_a_channels_last_batch_channels_last():
    x = torch.randn(16, 3, 8, 8)
    out = random_crop_flip(x.contiguous(memory_format=torch.channels_last), 2, torch.Generator().manual_seed(0))
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, random_crop_flip(x, 2, torch.Generator().manual_seed(0)))  # the same images either way
    assert random_crop_flip(x, 2, torch.Generator().manual_seed(0)).is_contiguous()


@pytest.mark.parametrize("channels,widths,layout", [
    (3, (16, 32, 64), torch.channels_last), (3, (8, 16, 32), torch.contiguous_format), (1, (12, 24, 48), torch.contiguous_format),
], ids=["wide-colour", "thin-colour", "thin-grey"])
def test_the_network_trains_in_the_layout_its_width_calls_for(channels, widths, layout):
    # channels_last where the widest convolution has 64 channels, NCHW below, where it trained up
    # to 1.9x slower (studies/benchmarks/RESULTS.md, "Memory format by width"). Augmented batches
    # once reached the network NCHW: a DeCEF first layer on its dense path then ran the whole
    # network NCHW (RESULTS.md, "The augmented batch's layout").
    splits = tiny_splits(channels=channels)
    base = tiny_spec(splits)
    spec = uniform_spec(base.architecture, channels, splits.image_size, splits.num_classes, widths, "decef", 2)
    seen, evaluated = [], []

    def record(module, args):
        if isinstance(module, torch.nn.BatchNorm2d):
            if module.training:
                seen.append(args[0].is_contiguous(memory_format=layout))
            elif module.num_features == widths[-1]:
                # validation and test run channels_last at every width, the faster layout there
                # (the last block's; a grey image's one channel leaves the first layer's output NCHW)
                evaluated.append(args[0].is_contiguous(memory_format=torch.channels_last))

    hook = torch.nn.modules.module.register_module_forward_pre_hook(record)
    try:
        result = train(spec, splits, make_recipe("fast", "tiny", epochs=1), seed=0, device="cpu")
    finally:
        hook.remove()
    assert seen and all(seen)
    assert evaluated and all(evaluated)
    assert all(p.is_contiguous(memory_format=layout) for p in result.model.parameters() if p.dim() == 4)


def test_random_crop_flip_without_padding_is_the_image_or_its_flip():
    x = torch.randn(64, 1, 5, 6)
    out = random_crop_flip(x, 0, torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    same = [torch.equal(out[i], x[i]) for i in range(len(x))]
    flipped = [torch.equal(out[i], x[i].flip(2)) for i in range(len(x))]
    assert all(s or f for s, f in zip(same, flipped))
    assert any(same) and any(f and not s for s, f in zip(same, flipped))


# --- `ranksearch train`, the real command line -------------------------------------------------

SUMMARY_KEYS = {"trainable_params", "keras_params", "flops", "val_accuracy", "test_accuracy", "seconds",
                "images_per_second"}


def last_json(proc) -> dict:
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert isinstance(out, dict) and SUMMARY_KEYS <= set(out)
    return out


def assert_one_line_error(proc, *needles: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0]


def _light_spec_dict(rank=1) -> dict:
    return reference_spec("mnist", "light", rank).to_dict()


BAD_CONFIGS = {
    "not-json": ("{ this is not json", "not valid JSON"),
    "no-model": (json.dumps({"data": {"dataset": "mnist"}, "seed": 0}), "missing model"),
    "rank-0": (json.dumps({"model": {**_light_spec_dict(),
                                     "layers": {**_light_spec_dict()["layers"], "block2.conv1": {"family": "light", "rank": 0}}},
                           "data": {"dataset": "mnist"}}), "block2.conv1"),
    "distill-2": (json.dumps({"model": _light_spec_dict(), "data": {"dataset": "mnist"}, "parent": "parent.pt",
                              "recipe": {**asdict(make_recipe("finetune", "mnist")), "distill": 2}}), "distill must be"),
    "distill-no-parent": (json.dumps({"model": _light_spec_dict(), "data": {"dataset": "mnist"},
                                      "recipe": {**asdict(make_recipe("finetune", "mnist")), "distill": 0.5}}),
                          "distill needs a parent"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_file_is_one_line(tmp_path, case):
    text, needle = BAD_CONFIGS[case]
    path = tmp_path / "config.json"
    path.write_text(text)
    assert_one_line_error(ranksearch("train", "--config", str(path)), str(path), needle)


@pytest.mark.slow
def test_unknown_dataset_is_one_line():
    assert_one_line_error(ranksearch("train", "--dataset", "no-such-set", "--family", "conv"), "unknown dataset 'no-such-set'")


@pytest.mark.slow
def test_dataset_folder_without_train_and_test_is_one_line(tmp_path):
    (tmp_path / "imgs" / "train" / "cat").mkdir(parents=True)
    proc = ranksearch("train", "--dataset", str(tmp_path / "imgs"), "--family", "conv")
    assert_one_line_error(proc, str(tmp_path / "imgs"), "train/ and test/")


@pytest.mark.slow
def test_missing_files_name_the_expected_files(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    # It first tries torchvision's download; a dead proxy makes that fail at once, online or not.
    offline = {k: "http://127.0.0.1:9" for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}
    proc = ranksearch("train", "--dataset", "fashion-mnist", "--data-dir", str(empty), "--family", "conv",
                      env={**offline, "no_proxy": "", "NO_PROXY": ""})
    assert_one_line_error(proc, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                          "t10k-labels-idx1-ubyte", str(empty / "FashionMNIST" / "raw"))


@pytest.mark.slow
def test_a_corrupt_image_is_named(tmp_path):
    root = tmp_path / "imgs"
    write_image_folder(root, classes=("a", "b"), n_train=2, n_test=1)
    bad = root / "train" / "b" / "broken.jpg"
    bad.write_bytes(b"definitely not an image " * 40)
    assert_one_line_error(ranksearch("train", "--dataset", str(root), "--family", "conv"), str(bad))


@pytest.mark.slow
def test_train_from_config_with_flag_overrides_json_and_save(tmp_path):
    root = tmp_path / "shapes"
    write_image_folder(root, classes=("a", "b", "c"), n_train=24, n_test=6, size=(12, 12))
    # make it learnable: class i brightens stripe i
    for split in ("train", "test"):
        for i, c in enumerate("abc"):
            for f in sorted((root / split / c).iterdir()):
                img = torch.randint(0, 60, (1, 12, 12), dtype=torch.uint8)
                img[:, 4 * i:4 * i + 4] += 180
                write_image(f, img)
    spec = reference_spec_for_shape(1, 12, 3, "light", 2)
    cfg = TrainConfig(spec, DataConfig(str(root)), make_recipe("fast", str(root), epochs=5), seed=3)
    cfg.save(tmp_path / "config.json")
    saved_file = tmp_path / "model.pt"
    proc = ranksearch("train", "--config", str(tmp_path / "config.json"), "--epochs", "1", "--val-fraction", "0.25",
                      "--json", "--save", str(saved_file))
    out = last_json(proc)
    assert out["epochs"] == 1 and len(out["val_curve"]) == 1
    counts = count_model(build_model(spec))
    assert (out["trainable_params"], out["keras_params"], out["flops"]) == (counts.trainable_params, counts.keras_params, counts.flops)
    assert 0.0 <= out["val_accuracy"] <= 1.0 and 0.0 <= out["test_accuracy"] <= 1.0

    saved = torch.load(saved_file, weights_only=True)
    assert saved["config"]["model"] == spec.to_dict()
    assert saved["config"]["recipe"]["epochs"] == 1 and saved["config"]["seed"] == 3
    assert saved["config"]["data"]["val_fraction"] == 0.25
    model = build_model(saved["config"])
    model.load_state_dict(saved["state_dict"], strict=True)
    # Re-evaluated here, the saved weights give exactly the reported test accuracy.
    splits = make_splits(load_dataset(str(root)), DataConfig(**saved["config"]["data"]))
    assert len(splits.val_y) == 18 and len(splits.train_y) == 54
    mean, std = channel_stats(splits.train_x)
    mean, std = (mean * 255).view(1, -1, 1, 1), (std * 255).view(1, -1, 1, 1)
    logits = model.eval()((splits.test_x.float() - mean) / std)
    assert torch.isfinite(logits).all() and logits.shape == (18, 3)
    acc = accuracy(model, splits.test_x, splits.test_y, lambda xb: (xb.float() - mean) / std, torch.device("cpu"))
    assert acc == out["test_accuracy"]
    # Without --json the result is one line on stdout too (progress stays on stderr).
    plain = ranksearch("train", "--config", str(tmp_path / "config.json"), "--epochs", "1", "--val-fraction", "0.25")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == (f"{counts.trainable_params:,} parameters, {counts.flops:,} FLOPs, val {out['val_accuracy']:.4f}, "
                            f"test {out['test_accuracy']:.4f}\n")


@pytest.mark.slow
def test_cifar100_format_trains_through_the_cli(tmp_path):
    write_cifar100(tmp_path, n_train=200, n_test=100)
    proc = ranksearch("train", "--dataset", "cifar100", "--data-dir", str(tmp_path), "--family", "light", "--rank", "1",
                      "--epochs", "1", "--json", "--device", "cpu")
    out = last_json(proc)
    counts = count_model(build_model(reference_spec("cifar100", "light", 1)))
    assert out["trainable_params"] == counts.trainable_params
    assert out["epochs"] == 1 and 0.0 <= out["test_accuracy"] <= 1.0


@pytest.mark.slow
def test_fashion_mnist_one_epoch_on_5000_images_reaches_70_percent():
    data_dir = require_real("FashionMNIST")
    proc = ranksearch("train", "--dataset", "fashion-mnist", "--data-dir", str(data_dir), "--family", "conv",
                      "--train-subset", "5000", "--epochs", "1", "--json")
    out = last_json(proc)
    assert out["test_accuracy"] >= 0.70, out
    assert out["trainable_params"] == count_model(build_model(reference_spec("fashion-mnist", "conv"))).trainable_params


def test_the_paper_recipe_sets_the_authors_layers():
    from ranksearch.trainer import apply_recipe

    recipe = make_recipe("paper", "fashion-mnist")
    assert (recipe.normalize, recipe.schedule, recipe.patience, recipe.light_conv_l2) == ("unit", "plateau", 3, 1e-4)
    model = build_model(reference_spec("fashion-mnist", "light", 3))
    penalised = apply_recipe(model, recipe)
    assert model.block1.bn1.momentum == 0.01 and model.block1.bn1.eps == 1e-3  # Keras' 0.99 and 1e-3
    assert model.head.scale == pytest.approx(2 / 10)
    assert len(penalised) == 2 * 6  # both kernels of each LightConv2d, nothing else
    plain = build_model(reference_spec("fashion-mnist", "light", 3))
    assert apply_recipe(plain, make_recipe("fast", "fashion-mnist")) == [] and plain.head.scale == 1.0


def test_light_linear_scale_multiplies_the_product_only():
    from lightlayers import LightLinear

    layer = LightLinear(6, 4, 2)
    x = torch.randn(3, 6)
    plain = layer(x)
    layer.scale = 0.2
    torch.testing.assert_close(layer(x) - layer.bias, 0.2 * (plain - layer.bias))


def test_the_paper_recipe_cuts_the_rate_tenfold_on_a_validation_plateau():
    splits = tiny_splits()
    recipe = replace(make_recipe("paper", "tiny", epochs=6), patience=1, lr=1.0)  # a rate this high stalls at once
    result = train(tiny_spec(splits), splits, recipe, seed=0, device="cpu")
    assert result.epochs_run == 6 and result.lr_curve[0] <= 1.0
    cuts = [a / b for a, b in zip(result.lr_curve, result.lr_curve[1:]) if a != b]
    assert cuts and all(c == pytest.approx(10) for c in cuts)  # only ever cut, and tenfold
    patient = train(tiny_spec(splits), splits, replace(recipe, patience=100), seed=0, device="cpu")
    assert set(patient.lr_curve) == {1.0}  # no plateau that long: the rate never moves


def test_checks_within_epochs_validate_there_and_change_nothing_of_the_training():
    splits = tiny_splits(n_train=192)  # batch 32: six steps an epoch
    recipe = make_recipe("fast", "tiny", epochs=2)
    events = []
    with_checks = train(tiny_spec(splits), splits, recipe, seed=0, device="cpu", checks=(1 / 3, 1.5, 1.0, 2.5),
                        on_step=lambda e, s, n: events.append(("step", e, s)),
                        on_check=lambda at, acc: events.append(("check", at, acc)),
                        on_epoch=lambda e, acc: events.append(("epoch", e, acc)))
    plain = train(tiny_spec(splits), splits, recipe, seed=0, device="cpu")
    checks = [e for e in events if e[0] == "check"]
    # Only the points strictly within an epoch of training are checked, each after its step.
    assert [at for _, at, _ in checks] == [1 / 3, 1.5]
    assert events[events.index(checks[0]) - 1] == ("step", 1, 2)
    assert events[events.index(checks[1]) - 1] == ("step", 2, 3)
    assert with_checks.val_checks == {1 / 3: checks[0][2], 1.5: checks[1][2]}
    assert all(0.0 <= acc <= 1.0 for _, _, acc in checks)
    assert with_checks.val_curve == plain.val_curve and with_checks.test_accuracy == plain.test_accuracy
    a, b = with_checks.model.state_dict(), plain.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_exception_from_on_check_stops_training_within_the_epoch():
    class Stop(Exception):
        pass

    def on_check(at, acc):
        raise Stop

    epochs = []
    splits = tiny_splits(n_train=192)
    with pytest.raises(Stop):
        train(tiny_spec(splits), splits, make_recipe("fast", "tiny", epochs=3), seed=0, device="cpu",
              checks=(1 / 3,), on_check=on_check, on_epoch=lambda e, acc: epochs.append(e))
    assert epochs == []


def test_with_distill_at_one_an_inherited_network_learns_from_the_parent_not_the_labels():
    splits = tiny_splits()
    parent = train(tiny_spec(splits), splits, make_recipe("fast", "tiny", epochs=4), seed=0, device="cpu")
    assert parent.test_accuracy >= 0.9
    state = {k: v.detach().clone() for k, v in parent.model.state_dict().items()}
    wrong = replace(splits, train_y=(splits.train_y + 1) % splits.num_classes)  # every training label is wrong
    child = tiny_spec(splits, "decef", 2)
    finetune = make_recipe("fast", "tiny", epochs=3)
    from_labels = train(child, wrong, finetune, seed=0, device="cpu", parent=state)
    from_parent = train(child, wrong, replace(finetune, distill=1.0), seed=0, device="cpu", parent=state)
    assert from_labels.test_accuracy <= 0.5
    assert from_parent.test_accuracy >= 0.9
