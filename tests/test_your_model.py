"""Your own model end to end: a network from a user's file searched, exported and retrained, from scratch and from weights."""

import json

import pandas as pd
import pytest

from conftest import ROOT, ranksearch
from ranksearch.config import GIVEN_FINETUNE_LR

pytestmark = pytest.mark.slow  # real studies of a user's network

SOURCE = f"{ROOT / 'studies' / 'your-own-model' / 'small_vgg.py'}:SmallVGG"
ARGS = '{"in_channels": 1, "width": 4}'


@pytest.fixture(scope="module")
def trained_weights(tmp_path_factory, mnist_like_module):
    path = tmp_path_factory.mktemp("w") / "vgg.pt"
    proc = ranksearch("train", "--dataset", "mnist", "--data-dir", str(mnist_like_module), "--model", SOURCE,
                      "--model-args", ARGS, "--epochs", "2", "--train-subset", "200", "--save", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["trainable_params"] > 0
    return path


@pytest.fixture(scope="module")
def mnist_like_module(tmp_path_factory):
    from conftest import write_mnist_like

    return write_mnist_like(tmp_path_factory.mktemp("data"))


def _run(data, out, *extra):
    return ranksearch("run", "--dataset", "mnist", "--data-dir", str(data), "--model", SOURCE, "--model-args", ARGS,
                      "--epochs", "2", "--train-subset", "200", "--budget", "5", "--jobs", "1", "--family", "all",
                      "--out", str(out), *extra)


def test_a_users_network_is_searched_exported_and_retrained(mnist_like_module, tmp_path):
    out = tmp_path / "run"
    proc = _run(mnist_like_module, out)
    assert proc.returncode == 0, proc.stderr
    trials = pd.read_csv(out / "trials.csv")
    slots = {c[len("family."):] for c in trials.columns if c.startswith("family.")}
    assert slots == {"features.0", "features.3", "features.7", "features.10", "features.14", "features.17", "head"}
    base = trials[trials.role == "baseline"].set_index("family")
    assert set(base.index) == {"conv", "separable"}
    assert (base.loc["conv", [f"family.{s}" for s in slots]].isin(["conv", "linear"])).all()  # the network unmodified
    assert base.loc["separable", "trainable_params"] < base.loc["conv", "trainable_params"]
    assert (trials[trials.role == "candidate"].state.isin(["COMPLETE", "PRUNED"])).sum() == 5
    sentences = json.loads((out / "summary.json").read_text())["sentences"]
    assert any("your SmallVGG" in s for s in sentences)  # its baselines named after it, as a person would
    assert not [s for s in sentences if ") (" in s]  # and no name in brackets followed by "(N parameters, ...)"
    point = tmp_path / "point.json"
    assert ranksearch("export", str(out), "--max-params", str(int(base.loc["conv", "trainable_params"])), "-o", str(point)).returncode == 0
    config = json.loads(point.read_text())
    assert config["model"]["source"] == SOURCE
    proc = ranksearch("train", "--config", str(point), "--epochs", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    front = json.loads((out / "front.json").read_text())
    chosen = [p for p in front if p["config"] == config][0]
    assert json.loads(proc.stdout.splitlines()[-1])["trainable_params"] == chosen["trainable_params"]


def test_from_trained_weights_the_unmodified_accuracy_is_measured_first(mnist_like_module, tmp_path, trained_weights):
    out = tmp_path / "run"
    kept = out / "vgg.pt"  # kept in the run folder, as studies/resnet18-cifar10/run.sh keeps its network's
    out.mkdir()
    kept.write_bytes(trained_weights.read_bytes())
    proc = _run(mnist_like_module, out, "--weights", str(kept))
    assert proc.returncode == 0, proc.stderr
    assert "the parent is your trained network, candidates fine-tuned 1 epoch (SGD)" in proc.stderr + proc.stdout
    finetune = json.loads((out / "config.json").read_text())["finetune"]
    assert (finetune["optimizer"], finetune["lr"]) == ("sgd", GIVEN_FINETUNE_LR)  # not the search's Adam rate
    trials = pd.read_csv(out / "trials.csv")
    parent = trials[trials.role == "parent"].iloc[0]
    assert parent.seconds == 0.0 and json.loads(parent.val_curve) == [parent.val_accuracy]  # measured, not trained
    assert parent.lineage == "your network as given, not retrained" and 0 <= parent.test_accuracy <= 1
    assert not (out / "parent.pt").exists()  # the candidates inherit the user's own file
    page = (out / "report.html").read_text()
    assert "the parent is your network as given" in page and "trained once" not in page  # the report says so too
    base = trials[trials.role == "baseline"].set_index("family")
    assert (base.lineage == "inherits from the parent, 1 fine-tune epoch").all()

    # A point of it, from the run folder moved elsewhere: the weights it keeps are found in their new place.
    point, moved = tmp_path / "point.json", tmp_path / "moved" / "vgg.pt"
    assert ranksearch("export", str(out), "--take", "-o", str(point)).returncode == 0
    config = json.loads(point.read_text())
    assert config["model"]["weights"] == config["parent"] == str(kept.resolve())  # the parent is it, as given
    out = out.rename(tmp_path / "moved-run")
    assert ranksearch("export", str(out), "--take", "-o", str(point)).returncode == 0
    config = json.loads(point.read_text())
    assert config["model"]["weights"] == config["parent"] == str((out / "vgg.pt").resolve())
    proc = ranksearch("export", str(out), "--baseline", "parent", "-o", str(tmp_path / "parent.json"))
    assert proc.returncode == 2 and f"--model {SOURCE} --weights {(out / 'vgg.pt').resolve()} --save FILE.onnx" in proc.stderr

    # After its base network's weights moved out of any run folder: one line that says how, then --weights finds them.
    moved.parent.mkdir()
    moved.write_bytes(trained_weights.read_bytes())
    config["model"]["weights"] = config["parent"] = str(tmp_path / "gone.pt")
    point.write_text(json.dumps(config))
    proc = ranksearch("train", "--config", str(point), "--epochs", "1", "--json")
    assert proc.returncode == 2 and "`ranksearch train --config POINT.json --weights FILE` takes them where" in proc.stderr
    proc = ranksearch("train", "--config", str(point), "--weights", str(moved), "--epochs", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    taken = json.loads((out / "summary.json").read_text())["take"]
    assert json.loads(proc.stdout.splitlines()[-1])["trainable_params"] == taken["trainable_params"]


def test_from_trained_weights_under_start_scratch_candidates_train_from_scratch(mnist_like_module, tmp_path, trained_weights):
    # A config written before candidates inherited reads as --start scratch (studies/resnet18-cifar10/config.json).
    out = tmp_path / "run"
    proc = _run(mnist_like_module, out, "--weights", str(trained_weights), "--start", "scratch", "--budget", "2",
                "--confirm-seeds", "0")
    assert proc.returncode == 0, proc.stderr
    assert "the parent is your trained network, every candidate trained 2 epochs from scratch" in proc.stderr
    trials = pd.read_csv(out / "trials.csv")
    assert trials[trials.role == "parent"].iloc[0].lineage == "your network as given, not retrained"
    assert (trials[trials.role == "candidate"].state.isin(["COMPLETE", "PRUNED"])).sum() == 2
    assert json.loads((out / "config.json").read_text())["finetune"] is None


def test_train_fine_tunes_a_users_trained_network_as_the_search_does(mnist_like_module, trained_weights):
    from ranksearch.api import train

    common = dict(dataset="mnist", data_dir=str(mnist_like_module), model=SOURCE, model_args=ARGS, recipe="finetune",
                  epochs=1, train_subset=200)
    given = train(weights=str(trained_weights), **common).config.recipe
    assert (given.optimizer, given.lr) == ("sgd", GIVEN_FINETUNE_LR)
    fresh = train(**common).config.recipe
    assert fresh.optimizer == "adam" and fresh.name == given.name == "finetune"
