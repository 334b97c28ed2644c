"""Every bad input tried on the command line: what it is, how to make it, and the answer expected.

Shared by ``tests/test_bad_input.py`` (which runs them all and checks each: the exit code, one
line on stderr naming the problem, no traceback, nothing created or changed) and
``studies/benchmarks/bad_input_table.py`` (which prints the table committed in RESULTS.md).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from conftest import write_image_folder_of_size, write_mnist_like


@dataclass
class World:
    """A folder with a generated dataset and one small finished run, made once."""

    root: Path
    data: Path
    run: Path

    def copy_run(self, name: str) -> Path:
        target = self.root / name
        if not target.exists():
            shutil.copytree(self.run, target)
        return target


def make_world(root: Path, env: dict) -> World:
    data = write_mnist_like(root / "data", n_train=300, n_test=50)
    run = root / "run"
    proc = subprocess.run([sys.executable, "-m", "ranksearch", "run", "--dataset", "mnist", "--data-dir", str(data),
                           "--epochs", "1", "--train-subset", "200", "--budget", "3", "--out", str(run), "--jobs", "1"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return World(root, data, run)


def _config(w: World, **recipe) -> str:
    point = json.loads((w.run / "front.json").read_text())[0]["config"]
    point["recipe"].update(recipe)
    path = w.root / f"bad-{'-'.join(recipe) or 'x'}.json"
    path.write_text(json.dumps(point))
    return str(path)


def _moved_parent(w: World) -> str:
    """A point copied out of a run folder that later moved: its parent's path no longer exists."""
    point = json.loads((w.run / "front.json").read_text())[0]["config"]
    assert point["parent"], "the world's run starts from a parent"
    point["parent"] = str(w.root / "moved" / "parent.pt")
    path = w.root / "moved-parent.json"
    path.write_text(json.dumps(point))
    return str(path)


def _unknown_field(w: World) -> str:
    point = json.loads((w.run / "front.json").read_text())[0]["config"]
    point["recipe"]["warmup"] = 3
    path = w.root / "unknown-field.json"
    path.write_text(json.dumps(point))
    return str(path)


def _not_json(w: World) -> str:
    path = w.root / "not.json"
    path.write_text("{model: ")
    return str(path)


def _damaged(w: World) -> str:
    run = w.copy_run("damaged")
    db = run / "study.db"
    raw = bytearray(db.read_bytes())
    raw[4096:8192] = b"\x5a" * 4096  # overwrite the second page
    db.write_bytes(bytes(raw))
    return str(run)


SMALL_MODEL = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        return self.head(self.conv(x).mean((2, 3)))


class NotAModule:
    def __init__(self, num_classes=10):
        pass


class FailsOnItsSecondBatch(Net):  # fine for one image and one training batch; its second training batch raises

    batches = 0

    def forward(self, x):
        if self.training and torch.is_grad_enabled():
            FailsOnItsSecondBatch.batches += 1
            if FailsOnItsSecondBatch.batches == 2:
                raise RuntimeError("a bug in my forward, on its second batch")
        return super().forward(x)


class NoParameters(nn.Module):  # the right outputs, and nothing to learn

    def __init__(self, num_classes=10):
        super().__init__()
        self.num_classes = num_classes

    def forward(self, x):
        return x.flatten(1)[:, : self.num_classes] * 1.0
"""


ONLY_1X1 = """
from torch import nn
class Net(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Conv2d(1, 10, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
"""


def _model_file(w: World, name: str = "mymodel.py", text: str = SMALL_MODEL) -> str:
    path = w.root / name
    if not path.exists():
        path.write_text(text)
    return str(path)


def _wrong_weights(w: World) -> str:
    import torch

    path = w.root / "wrong.pt"
    if not path.exists():
        torch.save(torch.nn.Linear(3, 4).state_dict(), path)
    return str(path)


def _state(w: World, name: str, width: int = 8, nan: bool = False) -> str:
    """A state_dict with Net's keys: conv of ``width`` channels (8 fits), NaN in it on request."""
    import torch

    path = w.root / name
    if not path.exists():
        state = {"conv.weight": torch.randn(width, 1, 3, 3), "conv.bias": torch.zeros(width),
                 "head.weight": torch.randn(10, width), "head.bias": torch.zeros(10)}
        if nan:
            state["conv.weight"][0, 0, 0, 0] = float("nan")
        torch.save(state, path)
    return str(path)


def _pickled_model(w: World) -> str:
    """torch.save(model) instead of its state_dict."""
    import torch

    path = w.root / "whole-model.pt"
    if not path.exists():
        torch.save(torch.nn.Linear(2, 2), path)
    return str(path)


def _two_studies(w: World) -> str:
    """A run folder whose study.db also holds a Fashion-MNIST study (as a second run into the folder left it)."""
    import optuna

    from ranksearch import records

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run = w.root / "two-studies"
    if not run.exists():
        w.copy_run("two-studies")
        url = f"sqlite:///{run / 'study.db'}"
        name = json.loads((run / "config.json").read_text())["study_name"]
        optuna.copy_study(from_study_name=name, from_storage=url, to_storage=url, to_study_name="fashion-mnist-all")
        other = optuna.load_study(study_name="fashion-mnist-all", storage=url)
        config = records.saved_config(other)
        config["data"]["dataset"], config["study_name"] = "fashion-mnist", "fashion-mnist-all"
        records.save_config(other, config)
    return str(run)


def _images(w: World, name: str, break_with=None) -> str:
    """An image folder of 3 classes of 16x16 images; ``break_with(root)`` spoils it."""
    root = w.root / name
    if not root.exists():
        write_image_folder_of_size(root, 16)
        break_with(root)
    return str(root)


def _empty_class(root: Path) -> None:
    (root / "train" / "class3").mkdir()


def _broken_image(root: Path) -> None:
    (root / "train" / "class1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n and then nothing of an image")


def _network_config(w: World, layers: dict, weights: str | None = None) -> str:
    point = json.loads((w.run / "front.json").read_text())[0]["config"]
    point["model"] = {"source": f"{_model_file(w)}:Net", "kwargs": {}, "in_channels": 1, "image_size": 28,
                      "num_classes": 10, "layers": layers, "weights": weights}
    path = w.root / f"net-{'-'.join(layers)}{'-gone' if weights else ''}.json"
    path.write_text(json.dumps(point))
    return str(path)


def _search_config_gone_weights(w: World) -> str:
    config = json.loads((w.run / "config.json").read_text())
    config["model"] = {"source": f"{_model_file(w)}:Net", "kwargs": {}, "weights": str(w.root / "gone" / "net.pt")}
    config["baselines"] = ["conv", "separable"]
    path = w.root / "search-gone-weights.json"
    path.write_text(json.dumps(config))
    return str(path)


def _run_without_db(w: World) -> str:
    run = w.copy_run("nodb")
    (run / "study.db").unlink(missing_ok=True)
    return str(run)


def _empty_db(w: World) -> str:
    run = w.copy_run("emptydb")
    (run / "study.db").write_bytes(b"")
    return str(run)


def _tiny_images(w: World) -> str:
    return str(write_image_folder_of_size(w.root / "tiny", 4))


def _file_in_the_way(w: World) -> str:
    path = w.root / "a-file"
    path.write_text("x")
    return str(path)


def _empty_folder(w: World) -> str:
    path = w.root / "empty"
    path.mkdir(exist_ok=True)
    return str(path)


QUICK = ["--epochs", "1", "--train-subset", "100"]


SECRET = "s3cretPW"  # a storage password: must appear in no output and no file


@dataclass
class Case:
    name: str
    args: Callable[[World], list[str]]
    code: int
    needle: str
    makes: str | None = None  # the run folder a run that started training leaves (its study holds the failed trial)


CASES = [
    Case("config with lr -1", lambda w: ["train", "--config", _config(w, lr=-1)], 2, "lr must be a number > 0"),
    Case("config with optimizer bogus", lambda w: ["train", "--config", _config(w, optimizer="bogus")], 2, "optimizer must be one of adam, sgd"),
    Case("config with schedule cosine", lambda w: ["train", "--config", _config(w, schedule="cosine")], 2, "schedule must be one of onecycle, constant"),
    Case("config with a field we do not know", lambda w: ["train", "--config", _unknown_field(w)], 2, "unknown field(s) warmup"),
    Case("config that is not JSON", lambda w: ["train", "--config", _not_json(w)], 2, "not valid JSON"),
    Case("config that is a run folder", lambda w: ["train", "--config", str(w.run)], 2, "is a folder, not a point's configuration; `ranksearch export"),
    Case("config that is a search's config.json", lambda w: ["train", "--config", str(w.run / "config.json")], 2, "is a search's configuration"),
    Case("config that is front.json", lambda w: ["train", "--config", str(w.run / "front.json")], 2, "--trial N -o point.json"),
    Case("config file missing", lambda w: ["train", "--config", str(w.root / "nope.json")], 2, "no such file"),
    Case("config whose run folder moved", lambda w: ["train", "--config", _moved_parent(w)], 2, "ranksearch export RUN_FOLDER"),
    Case("--seed 1e23", lambda w: ["train", "--dataset", "mnist", "--family", "conv", "--seed", "1e23"], 2, "invalid int value: '1e23'"),
    Case("--seed 2**70", lambda w: ["train", "--dataset", "mnist", "--data-dir", str(w.data), "--family", "conv", "--seed", str(2**70)], 2, "seed must be below 2**63"),
    Case("images of 4x4 pixels (train)", lambda w: ["train", "--dataset", _tiny_images(w), "--family", "conv"], 2, "too small"),
    Case("images of 4x4 pixels (run)", lambda w: ["run", "--dataset", _tiny_images(w), "--budget", "2", "--out", str(w.root / "r-tiny")], 2, "too small"),
    Case("export -o under a file", lambda w: ["export", str(w.run), "--trial", "0", "-o", _file_in_the_way(w) + "/x.json"], 2, "is a file, not a folder"),
    Case("train --save names a folder", lambda w: ["train", "--config", _config(w), "--save", str(w.root)], 2, "is a folder; give the path of a file"),
    Case("train --save in a read-only folder", lambda w: ["train", "--config", _config(w), "--save", "/proc/sys/w.pt"], 2, "is not writable"),
    Case("--out names a file", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--out", _file_in_the_way(w)], 2, "a file is in the way"),
    Case("--out in /proc (writable to root's access(), not to mkdir)", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--out", "/proc/ranksearch-run"], 2, "/proc/ranksearch-run"),
    Case("--out in a read-only folder", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--out", "/proc/sys/ranksearch-run"], 2, "is not writable"),
    Case("report on a damaged study.db", lambda w: ["report", _damaged(w)], 1, "may be damaged"),
    Case("export from a damaged study.db", lambda w: ["export", _damaged(w), "--trial", "0", "-o", str(w.root / "x.json")], 1, "may be damaged"),
    Case("run on a damaged study.db", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), *QUICK, "--budget", "4", "--out", _damaged(w)], 1, "may be damaged"),
    Case("report on a 0-byte study.db", lambda w: ["report", _empty_db(w)], 2, "an empty file"),
    Case("worker on a study that does not exist", lambda w: ["worker", "--storage", f"sqlite:///{w.root / 'none.db'}", "--study", "nope"], 2, "no study 'nope'"),
    Case("--train-subset larger than the data", lambda w: ["train", "--dataset", "mnist", "--data-dir", str(w.data), "--family", "conv", "--train-subset", "100000"], 2, "--train-subset 100,000 is more than"),
    Case("--val-fraction 0.9999", lambda w: ["train", "--dataset", "mnist", "--data-dir", str(w.data), "--family", "conv", "--val-fraction", "0.9999"], 2, "--val-fraction 0.9999 leaves"),
    Case("--val-fraction 1.5", lambda w: ["run", "--dataset", "mnist", "--budget", "2", "--val-fraction", "1.5"], 2, "--val-fraction must be a number"),
    Case("--rank 1000", lambda w: ["train", "--dataset", "mnist", "--data-dir", str(w.data), "--family", "light", "--rank", "1000"], 2, "must be <= 72"),
    Case("--rank 0", lambda w: ["summary", "--dataset", "mnist", "--family", "light", "--rank", "0"], 2, "integer rank >= 1"),
    Case("--data-dir an empty folder", lambda w: ["train", "--dataset", "mnist", "--data-dir", _empty_folder(w), "--family", "conv"], 2, "4 of its 4 files"),
    Case("unknown dataset", lambda w: ["run", "--dataset", "imagenet", "--budget", "2"], 2, "unknown dataset 'imagenet'"),
    Case("unknown search space", lambda w: ["run", "--dataset", "mnist", "--budget", "2", "--family", "tucker"], 2, "--family must be one of"),
    Case("unknown objective", lambda w: ["run", "--dataset", "mnist", "--budget", "2", "--objectives", "params,energy"], 2, "energy"),
    Case("--warm-shares 0,5", lambda w: ["run", "--dataset", "mnist", "--budget", "2", "--warm-shares", "0,5"], 2, "--warm-shares must be a number > 0 and < 1"),
    Case("--warm-shares a third", lambda w: ["run", "--dataset", "mnist", "--budget", "2", "--warm-shares", "a third"], 2, "--warm-shares must be numbers separated by commas"),
    Case("unknown pruner", lambda w: ["run", "--dataset", "mnist", "--budget", "2", "--pruner", "median"], 2, "--pruner must be one of"),
    Case("--jobs 0", lambda w: ["run", "--dataset", "mnist", "--budget", "2", "--jobs", "0"], 2, "--jobs must be auto or an integer >= 1"),
    Case("--budget 0", lambda w: ["run", "--dataset", "mnist", "--budget", "0"], 2, "--budget must be an integer >= 1"),
    Case("storage that is not reachable", lambda w: ["run", "--dataset", "mnist", "--budget", "2", "--storage", "postgresql://nobody@127.0.0.1:9/none", "--out", str(w.root / "r-pg")], 1, "cannot open storage"),
    Case("storage URL of an unknown kind", lambda w: ["run", "--dataset", "mnist", "--budget", "2", "--storage", "redis://localhost", "--out", str(w.root / "r-redis")], 2, "expected an Optuna RDB URL"),
    Case("a run folder that is not one", lambda w: ["report", _empty_folder(w)], 2, "not a run folder"),
    Case("--model file that does not exist", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--model", str(w.root / "nope.py") + ":Net", "--out", str(w.root / "r-m1")], 2, "no such file"),
    Case("--model that does not import", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--model", _model_file(w, "broken.py", "import not_a_module_anywhere\n") + ":Net", "--out", str(w.root / "r-m2")], 2, "does not import"),
    Case("--model that is not an nn.Module", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--model", _model_file(w) + ":NotAModule", "--out", str(w.root / "r-m3")], 2, "not an nn.Module"),
    Case("--model that cannot take the data's images", lambda w: ["train", "--dataset", "mnist", "--data-dir", str(w.data), "--model", _model_file(w) + ":Net", "--model-args", '{"in_channels": 3}'], 2, "cannot take 1x28x28 images"),
    Case("--model with no layer to factorise", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--model", _model_file(w, "only1x1.py", ONLY_1X1) + ":Net", "--out", str(w.root / "r-no-layer")], 2, "has no layer to factorise"),
    Case("run --weights without --model", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--weights", _state(w, "plain.pt"), "--out", str(w.root / "r-weights-alone")], 2, "name it with --model SOURCE"),
    Case("run --config point.json (a point's, not a search's)", lambda w: ["run", "--config", _config(w)], 2, "is a point's configuration (`ranksearch train --config` trains it)"),
    Case("--weights holding a whole pickled model", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--model", _model_file(w) + ":Net", "--weights", _pickled_model(w), "--out", str(w.root / "r-pickled")], 2, "save the weights with torch.save(model.state_dict(), path)"),
    Case("--weights that do not fit the model", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--model", _model_file(w) + ":Net", "--weights", _wrong_weights(w), "--out", str(w.root / "r-m4")], 2, "do not fit the model"),
    Case("config naming a layer the model does not have", lambda w: ["train", "--config", _network_config(w, {"nope": {"family": "light", "rank": 2}})], 2, "not a replaceable layer"),
    Case("run --config whose network's weights are gone", lambda w: ["run", "--config", _search_config_gone_weights(w), "--out", str(w.root / "r-gone-weights")], 2, "ranksearch train --model"),
    Case("config whose base network's weights are gone", lambda w: ["train", "--config", _network_config(w, {"conv": {"family": "light", "rank": 2}}, str(w.root / "gone" / "net.pt"))], 2, "ranksearch train --model"),
    Case("config with a rank over the layer's limit", lambda w: ["train", "--config", _network_config(w, {"conv": {"family": "light", "rank": 10000}})], 2, "must be <="),
    Case("export --trial 0 (the parent, not a candidate)", lambda w: ["export", str(w.run), "--trial", "0", "-o", str(w.root / "p.json")], 2, "trial 0 is the run's parent, not a candidate: --baseline parent"),
    Case("export --max-flops alone", lambda w: ["export", str(w.run), "--max-flops", "100000", "-o", str(w.root / "f.json")], 2, "--max-flops goes with --max-params P"),
    Case("an argument the command does not take", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--json", "--out", str(w.root / "r-json")], 2, "ranksearch run: error: unrecognized arguments: --json (see ranksearch run --help)"),
    Case("--finetune-epochs under --start scratch", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--start", "scratch", "--finetune-epochs", "3", "--out", str(w.root / "r-scratch-ft")], 2, "under --start scratch every network trains --epochs"),
    Case("--warm-shares with --no-warm-start", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--no-warm-start", "--warm-shares", "0.4", "--out", str(w.root / "r-nowarm-shares")], 2, "which --no-warm-start turns off"),
    Case("export of a run folder whose study.db is gone", lambda w: ["export", _run_without_db(w), "--take", "-o", str(w.root / "nodb.json")], 2, "keeps only its tables"),
    Case("export of a trial that does not exist", lambda w: ["export", str(w.run), "--trial", "9999", "-o", str(w.root / "y.json")], 2, "no finished candidate numbered 9999"),
    Case("export --input uint8 of a configuration", lambda w: ["export", str(w.run), "--trial", "0", "--input", "uint8", "-o", str(w.root / "u.json")], 2, "input uint8 is for a network file"),
    Case("train --input uint8 without --save", lambda w: ["train", "--config", _config(w), "--input", "uint8"], 2, "add --save FILE.onnx or FILE.ts"),
    Case("train --save a checkpoint with --input uint8", lambda w: ["train", "--config", _config(w), "--save", str(w.root / "u.pt"), "--input", "uint8"], 2, "input uint8 is for ONNX and TorchScript files"),
    Case("run --objectives latency:tflite", lambda w: ["run", "--dataset", "mnist", "--budget", "2", "--objectives", "params,latency:tflite"], 2, "latency:tflite"),
    # Third pass: shared folders, secrets, data read wrong, a user's model or weights that cannot train.
    Case("run into a folder holding another study", lambda w: ["run", "--dataset", "fashion-mnist", "--data-dir", str(w.data), "--budget", "2", "--out", str(w.copy_run("other-study"))], 2, "holds study 'mnist-all'"),
    Case("report of another study of a run folder, into it", lambda w: ["report", _two_studies(w), "--study", "fashion-mnist-all"], 2, "is not the study of"),
    Case("report --study of a name the storage does not hold", lambda w: ["report", str(w.run), "--study", "nope", "--out", str(w.root / "r-nope")], 2, "; its studies: mnist-all (`ranksearch run` starts one)"),
    Case("report into a read-only folder", lambda w: ["report", str(w.run), "--out", "/proc/sys/ranksearch-report"], 2, "is not writable"),
    Case("storage URL with a password, not reachable", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--storage", f"postgresql://nobody:{SECRET}@127.0.0.1:9/none", "--out", str(w.root / "r-pw")], 1, "postgresql://nobody:***@127.0.0.1:9/none"),
    Case("an empty class folder", lambda w: ["train", "--dataset", _images(w, "empty-class", _empty_class), "--family", "conv"], 2, "a class folder with no images"),
    Case("an image that does not decode", lambda w: ["run", "--dataset", _images(w, "broken-image", _broken_image), "--budget", "2", "--out", str(w.root / "r-img")], 2, "broken.png: cannot decode image"),
    Case("--train-subset 1 (fewer than the classes)", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--train-subset", "1", "--out", str(w.root / "r-sub")], 2, "--train-subset 1 is fewer images than the 10 classes"),
    Case("--model whose forward raises on its second batch (train)", lambda w: ["train", "--dataset", "mnist", "--data-dir", str(w.data), *QUICK, "--model", _model_file(w) + ":FailsOnItsSecondBatch"], 2, "raised RuntimeError: a bug in my forward"),
    Case("--model whose forward raises on its second batch (run, 2 jobs)", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), *QUICK, "--budget", "2", "--jobs", "2", "--model", _model_file(w) + ":FailsOnItsSecondBatch", "--out", str(w.root / "r-raises")], 2, "raised RuntimeError: a bug in my forward", makes="r-raises"),
    Case("--model with no parameters (train)", lambda w: ["train", "--dataset", "mnist", "--data-dir", str(w.data), *QUICK, "--model", _model_file(w) + ":NoParameters"], 2, "has no trainable parameters"),
    Case("--model with no parameters (run)", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--model", _model_file(w) + ":NoParameters", "--out", str(w.root / "r-m5")], 2, "has no trainable parameters"),
    Case("--weights with the same keys, other shapes", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--model", _model_file(w) + ":Net", "--weights", _state(w, "wide.pt", width=16), "--out", str(w.root / "r-m6")], 2, "other shapes in conv.weight"),
    Case("train --weights without --model", lambda w: ["train", "--config", _config(w), "--weights", _state(w, "plain.pt")], 2, "say whose they are with --model"),
    Case("--weights holding NaN", lambda w: ["run", "--dataset", "mnist", "--data-dir", str(w.data), "--budget", "2", "--model", _model_file(w) + ":Net", "--weights", _state(w, "nan.pt", nan=True), "--out", str(w.root / "r-m7")], 2, "hold NaN or infinite values"),
]
