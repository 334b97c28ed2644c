"""Taking a network home: ONNX and TorchScript files of every family and of a user's network, checked
in a fresh process that cannot import ranksearch or lightlayers; ONNX Runtime latency as an objective."""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from conftest import ROOT, make_row, ranksearch
from lightlayers import DeCEFConv2d, LightLinear, build_model, reference_spec
from lightlayers.network import NetworkSpec
from lightlayers.spec import LayerChoice
from ranksearch.config import DataConfig, SearchConfig, TrainConfig, make_recipe
from ranksearch.deploy import CHECK_BATCH, TOLERANCE, Trained, format_for_path, load_checkpoint, write
from ranksearch.errors import UserError
from ranksearch.export_run import export_format
from ranksearch.objectives import Objective, check_measurable, check_objectives, measure_network, measured, register, unregister
from ranksearch.results import Tables
from ranksearch.trainer import apply_recipe
from ranksearch.verdict import verdict

pytest.importorskip("onnxruntime", reason="the deploy extra is not installed (pip install '.[deploy]')")

SOURCE = f"{ROOT / 'studies' / 'your-own-model' / 'small_vgg.py'}:SmallVGG"

# The fresh process: numpy, onnxruntime and torch only; importing ranksearch or lightlayers fails there.
FRESH = r"""
import json, sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("ranksearch", "lightlayers"):
            raise ImportError(f"a deployed file must not need {name}")
        return None

sys.meta_path.insert(0, Refuse())
import numpy as np, onnxruntime, torch

report = {}
for case in json.loads(sys.argv[1]):
    x, expected = np.load(case["input"]), np.load(case["expected"])
    if case["path"].endswith(".onnx"):
        session = onnxruntime.InferenceSession(case["path"], providers=["CPUExecutionProvider"])
        meta = session.get_modelmeta().custom_metadata_map
        got = session.run(None, {session.get_inputs()[0].name: x})[0]
    else:
        meta = {"config": "", "result": "", "normalization": "", "input": ""}
        model = torch.jit.load(case["path"], _extra_files=meta)
        with torch.no_grad():
            got = model(torch.from_numpy(x)).numpy()
    meta = {k: json.loads(v) for k, v in meta.items() if k != "producer"}
    report[case["path"]] = {"diff": float(np.abs(got - expected).max()), "shape": list(got.shape), "meta": meta}
report["imported"] = sorted(m for m in sys.modules if m.split(".")[0] in ("ranksearch", "lightlayers"))
print(json.dumps(report))
"""


def fresh_process(cases: list[dict], cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", FRESH, json.dumps(cases)], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _busy_batchnorm(model: nn.Module, seed: int) -> nn.Module:
    """Running statistics and affine weights away from identity, so a BatchNorm exported wrong shows."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.3)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(1 + 0.2 * torch.randn(m.num_features, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.num_features, generator=gen))
    return model.eval()


def trained(spec, recipe: str = "fast", seed: int = 0) -> Trained:
    """A network as training leaves it (channels_last, its recipe's settings) with a normalisation to record."""
    torch.manual_seed(seed)
    data = DataConfig("mnist" if spec.in_channels == 1 else "cifar10")
    rec = make_recipe(recipe, data.dataset, 1)
    model = build_model(spec).to(memory_format=torch.channels_last)
    apply_recipe(model, rec)
    c = spec.in_channels
    return Trained(_busy_batchnorm(model, seed), TrainConfig(spec, data, rec).to_dict(),
                   {"val_accuracy": 0.5, "test_accuracy": 0.25}, [30.0 + i for i in range(c)], [60.0 + i for i in range(c)])


def networks() -> dict[str, Trained]:
    """Every family: LightConv2d (its inner ReLU) and LightLinear, DeCEF on both paths, SeparableConv2d, Conv2d in a
    residual network with shortcuts, the paper's recipe (BatchNorm epsilon, LightLinear's scale), and a user's network."""
    user = NetworkSpec(SOURCE, 1, 28, 10, {"in_channels": 1, "width": 4}, layers={
        "features.3": LayerChoice("light", 2), "features.7": LayerChoice("decef", 2), "features.10": LayerChoice("decef", 1),
        "features.14": LayerChoice("separable"), "head": LayerChoice("light", 3)})
    return {
        "light": trained(reference_spec("mnist", "light", 2), "paper"),
        "decef": trained(reference_spec("mnist", "decef", 2)),
        "separable": trained(reference_spec("mnist", "separable")),
        "residual-decef": trained(reference_spec("cifar10", "decef", 2)),
        "residual-conv": trained(reference_spec("cifar10", "conv")),
        "user": trained(user),
    }


def pixels_for(t: Trained, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 256, (CHECK_BATCH, *t.input_shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def expected_outputs(t: Trained, pixels: torch.Tensor) -> np.ndarray:
    """What PyTorch computes: the network in fp32 eval mode on the normalised pixels, as the trainer feeds it."""
    model = t.model.eval()
    with torch.no_grad():
        x = ((pixels.float() - torch.tensor(t.mean).view(1, -1, 1, 1)) / torch.tensor(t.std).view(1, -1, 1, 1))
        return model(x.contiguous(memory_format=torch.channels_last)).float().numpy()


# -- formats and files ------------------------------------------------------------------------
def test_the_format_follows_the_suffix_and_an_export_keeps_writing_configurations_by_default():
    for name, fmt in (("m.onnx", "onnx"), ("m.ts", "torchscript"), ("m.torchscript", "torchscript"),
                      ("m.torchscript.pt", "torchscript"), ("p.json", "config"), ("w.pt", "checkpoint"), ("w.pth", "checkpoint"),
                      ("M.ONNX", "onnx"), ("weights", "checkpoint"), (".onnx", "checkpoint")):
        assert format_for_path(name, "checkpoint") == fmt, name
    assert [export_format(n) for n in ("m.onnx", "m.ts", "p.json", "p.pt", "p")] == \
        ["onnx", "torchscript", "config", "config", "config"]  # a point exported to p.pt is still its configuration
    assert export_format("p.json", "onnx") == "onnx"


def test_decef_on_both_paths_exports_to_onnx_and_torchscript_with_its_metadata(tmp_path):
    import onnx

    t = networks()["decef"]
    paths = {m.runs_dense for m in t.model.modules() if isinstance(m, DeCEFConv2d)}
    assert paths == {True, False}  # the dense kernel rebuilt from the factors, and the two factor convolutions
    pixels = pixels_for(t)
    for fmt, name in (("onnx", "m.onnx"), ("torchscript", "m.ts")):
        written = write(t, tmp_path / name, fmt, pixels=pixels)
        assert written.format == fmt and written.batch == CHECK_BATCH and written.max_abs_diff <= TOLERANCE
        assert f"max abs difference {written.max_abs_diff:.2e}" in written.line()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.ts"]  # no .part left behind
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert json.loads(meta["config"]) == t.config and TrainConfig.from_dict(json.loads(meta["config"]))
    assert json.loads(meta["result"]) == {"val_accuracy": 0.5, "test_accuracy": 0.25}
    norm = json.loads(meta["normalization"])
    assert norm["mean"] == [30.0] and norm["std"] == [60.0] and norm["units"] == "pixels 0-255" and not norm["inside_graph"]
    assert json.loads(meta["input"])["shape"] == ["batch", 1, 28, 28]
    extra = {"normalization": ""}
    with warnings.catch_warnings():  # torch marks torch.jit deprecated; loading its files is what a user does
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.load(str(tmp_path / "m.ts"), _extra_files=extra)
    assert json.loads(extra["normalization"])["mean"] == [30.0]


def test_uint8_input_bakes_the_normalisation_into_the_graph(tmp_path):
    import onnxruntime

    t = networks()["separable"]
    pixels = pixels_for(t)
    write(t, tmp_path / "m.onnx", "onnx", "uint8", pixels=pixels)
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(uint8)"
    got = session.run(None, {"input": pixels.numpy()})[0]
    assert np.abs(got - expected_outputs(t, pixels)).max() <= TOLERANCE
    assert json.loads(session.get_modelmeta().custom_metadata_map["normalization"])["inside_graph"]


def test_a_checkpoint_is_rebuilt_with_its_recipe_settings(tmp_path):
    t = networks()["light"]  # the paper's recipe: LightLinear scaled by 2/units, Keras' BatchNorm epsilon
    written = write(t, tmp_path / "w.pt", "checkpoint")
    assert written.max_abs_diff == 0.0
    back = load_checkpoint(tmp_path / "w.pt")
    head = back.model.head
    assert isinstance(head, LightLinear) and head.scale == 2.0 / head.out_features
    assert back.mean == t.mean and back.config == t.config
    saved = torch.load(tmp_path / "w.pt", weights_only=True)
    assert set(saved) == {"config", "state_dict", "result", "normalization", "classes"}


def test_a_file_that_is_not_a_loadable_checkpoint_is_one_line_saying_what_it_is(tmp_path):
    from ranksearch import load_model

    t = networks()["separable"]
    write(t, tmp_path / "point.json", "config")
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "text.pt").write_bytes(b"weights\n")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "state.pt")
    for name, said in (("point.json", "it holds JSON (a configuration, as `ranksearch export` writes); train it with"),
                       ("empty.pt", "(an empty file)"), ("text.pt", "(its bytes are not a torch.save file)"),
                       ("state.pt", "(KeyError: 'config')")):
        with pytest.raises(UserError, match="not a `ranksearch train --save` checkpoint") as e:
            load_model(tmp_path / name)
        assert said in str(e.value) and "\n" not in str(e.value), str(e.value)

    source = tmp_path / "mine.py"  # a checkpoint of the user's own network, whose code then moved
    source.write_text("from torch import nn\nclass Net(nn.Sequential):\n    def __init__(self):\n"
                      "        super().__init__(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))\n")
    spec = NetworkSpec(f"{source}:Net", 1, 28, 10)
    mine = Trained(build_model(spec).eval(), {**t.config, "model": spec.to_dict()}, {}, [0.5], [0.25])
    write(mine, tmp_path / "mine.pt", "checkpoint")
    assert load_model(tmp_path / "mine.pt").input_shape == (1, 28, 28)
    source.rename(tmp_path / "moved.py")
    with pytest.raises(UserError, match=f"its network does not build .* no such file {source}.; the checkpoint rebuilds"):
        load_model(tmp_path / "mine.pt")


def test_a_network_file_that_does_not_check_is_not_left_behind(tmp_path):
    t = networks()["separable"]
    t.mean = [float("nan")]  # every output NaN: no file can match it
    with pytest.raises(Exception, match="does not reproduce the network"):
        write(t, tmp_path / "m.ts", "torchscript")
    assert list(tmp_path.iterdir()) == []


def test_bad_formats_and_inputs_are_one_line(tmp_path):
    t = networks()["separable"]
    with pytest.raises(UserError, match="format must be one of onnx, torchscript, config, checkpoint"):
        write(t, tmp_path / "m.x", "tflite")
    with pytest.raises(UserError, match="input uint8 is for ONNX and TorchScript files"):
        write(t, tmp_path / "m.pt", "checkpoint", "uint8")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_every_family_and_a_users_network_load_in_a_fresh_process(tmp_path):
    """The done-when: without ranksearch or lightlayers, every file reproduces PyTorch within 1e-4 (fp32)."""
    cases = []
    for name, t in networks().items():
        pixels = pixels_for(t)
        expected = expected_outputs(t, pixels)
        np.save(tmp_path / f"{name}-expected.npy", expected)
        np.save(tmp_path / f"{name}-float.npy", t.normalise(pixels).numpy())
        np.save(tmp_path / f"{name}-uint8.npy", pixels.numpy())
        for fmt, suffix, given in (("onnx", ".onnx", "float"), ("torchscript", ".ts", "float"),
                                   ("onnx", "-pixels.onnx", "uint8"), ("torchscript", "-pixels.ts", "uint8")):
            path = tmp_path / f"{name}{suffix}"
            assert write(t, path, fmt, given, pixels=pixels).max_abs_diff <= TOLERANCE
            cases.append({"path": str(path), "input": str(tmp_path / f"{name}-{given}.npy"),
                          "expected": str(tmp_path / f"{name}-expected.npy"), "config": t.config})
    report = fresh_process(cases, tmp_path)
    assert report.pop("imported") == []
    for case in cases:
        got = report[case["path"]]
        assert got["diff"] <= TOLERANCE, (case["path"], got["diff"])
        assert got["shape"] == [CHECK_BATCH, 10]
        assert got["meta"]["config"] == case["config"]
        assert got["meta"]["result"]["test_accuracy"] == 0.25 and len(got["meta"]["normalization"]["mean"]) in (1, 3)


# -- latency in ONNX Runtime ------------------------------------------------------------------
def test_onnx_runtime_latency_is_measured_when_a_search_asks_for_it():
    spec = reference_spec("mnist", "light", 2)
    plain = measure_network(spec, torch.device("cpu"))
    assert "latency_onnx_ms" not in plain and plain["latency_threads"] == torch.get_num_threads()
    both = measure_network(spec, torch.device("cpu"), ("params", "latency-onnx"))
    assert both["latency_onnx_ms"] > 0 and both["latency_onnx_ms_batch"] > 0 and both["latency_ms"] > 0
    assert both["latency_onnx_threads"] == torch.get_num_threads()


def test_latency_objectives_are_named_by_their_runtime():
    def cfg(*objectives):
        return SearchConfig(DataConfig("mnist"), make_recipe("fast", "mnist", 2), objectives=objectives, study_name="o")

    assert cfg("params", "latency:onnx").objectives == ("params", "latency-onnx")
    assert cfg("params", "latency:eager").objectives == ("params", "latency")
    assert SearchConfig.from_dict(cfg("params", "latency:onnx").to_dict()).objectives == ("params", "latency-onnx")
    with pytest.raises(ValueError, match="latency-onnx"):
        cfg("params", "latency:tflite")


def test_an_objective_that_cannot_be_measured_here_is_refused_and_writes_nothing():
    def rulers(model, input_shape, device):
        return {"rulers": 1.0}

    register(Objective("rulers", (("rulers", "rulers"),), rulers, "{:.0f}", requires=lambda: "no ruler: pip install rulers"))
    try:
        check_objectives(("params", "rulers"))  # a study that minimised it still reads on this machine
        with pytest.raises(UserError, match="objective rulers cannot be measured on this machine: no ruler: pip install rulers"):
            check_measurable(("params", "rulers"))
        assert "rulers" not in {o.name for o in measured(("params", "rulers"))}
        assert "rulers" not in measure_network(reference_spec("mnist", "conv"), torch.device("cpu"))
    finally:
        unregister("rulers")


def test_the_verdict_and_the_report_say_which_runtime_measured_the_latency():
    from ranksearch.report_data import cost_axes

    rows = []
    for n, (params, val, onnx_ms, eager_ms) in enumerate([(1000, 0.6, 0.2, 0.5), (3000, 0.8, 0.3, 0.9), (9000, 0.85, 0.9, 2.0)]):
        r = make_row(n, params, val, val, latency=eager_ms, spec=reference_spec("mnist", "light", 2).to_dict())
        r.measures.update(latency_onnx_ms=onnx_ms, latency_onnx_ms_batch=onnx_ms / 10, latency_onnx_threads=1, latency_threads=1)
        r.on_front = True
        rows.append(r)

    def sentences(*objectives):
        cfg = SearchConfig(DataConfig("mnist"), make_recipe("fast", "mnist", 2), objectives=objectives, study_name="o")
        return verdict(Tables(rows, [], rows, 20000, 0.0), cfg).sentences

    said = [s for s in sentences("params", "latency:onnx") if s.startswith("Latency")]
    assert len(said) == 1 and "ONNX Runtime (CPU execution provider" in said[0] and "with 1 thread " in said[0]
    take = next(s for s in sentences("params", "latency:onnx") if s.startswith("Take "))
    number = int(take.split("trial ")[1].split(" ")[0])
    assert f"trial {number}, runs in {rows[number].value('latency_onnx_ms'):.3f} ms at batch 1" in said[0]
    assert f"(PyTorch eager: {rows[number].latency_ms:.3f}" in said[0]
    eager = [s for s in sentences("params", "latency") if s.startswith("Latency")]
    assert len(eager) == 1 and "PyTorch eager (fp32" in eager[0] and "ONNX" not in eager[0]
    assert not [s for s in sentences("params") if s.startswith("Latency")]
    assert sentences("params", "latency:onnx")[-1].startswith("Cost:")
    titles = cost_axes()
    assert "ONNX Runtime" in titles["latency_onnx_ms"] and "PyTorch eager" in titles["latency_ms"]
    assert "latency_onnx_threads" not in titles  # recorded beside the latency, no cost to draw


# -- end to end: the command line and the API -------------------------------------------------
@pytest.fixture(scope="module")
def onnx_run(tmp_path_factory):
    from conftest import write_mnist_like

    data = write_mnist_like(tmp_path_factory.mktemp("data"))
    out = tmp_path_factory.mktemp("runs") / "onnx"
    proc = ranksearch("run", "--dataset", "mnist", "--data-dir", str(data), "--epochs", "1", "--train-subset", "200",
                      "--budget", "3", "--jobs", "1", "--objectives", "params,latency:onnx", "--out", str(out),
                      env={"RANKSEARCH_CACHE": str(tmp_path_factory.mktemp("c"))})
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


@pytest.mark.slow
def test_a_search_minimises_onnx_runtime_latency_and_says_so(onnx_run):
    out, stdout = onnx_run
    trials = pd.read_csv(out / "trials.csv")
    assert trials["latency_onnx_ms"].notna().all() and (trials["latency_onnx_ms"] > 0).all()
    assert trials["latency_ms"].notna().all()  # the eager figure beside it
    assert (trials["latency_onnx_threads"] >= 1).all()
    assert json.loads((out / "config.json").read_text())["objectives"] == ["params", "latency-onnx"]
    summary = json.loads((out / "summary.json").read_text())
    assert any(s.startswith("Latency, which this search minimised, was measured in ONNX Runtime") for s in summary["sentences"])
    assert "measured in ONNX Runtime" in " ".join(stdout.split())  # the printed verdict, wrapped
    table = (out / "report.html").read_text().split('id="front-table"')[1].split("</table>")[0]
    assert "<th>ONNX Runtime ms (batch 1)</th>" in table  # the latency it minimised, beside eager's
    row = trials[trials["on_front"]].iloc[0]
    assert f"<td>{row['latency_onnx_ms']:.3f}</td><td>{row['latency_onnx_ms_batch']:.4f}</td>" in table


@pytest.mark.slow
def test_a_front_member_exports_from_the_run_folder_and_loads_in_a_fresh_process(onnx_run, tmp_path):
    out, _ = onnx_run
    number = json.loads((out / "front.json").read_text())[0]["number"]
    (out / "weights").mkdir(exist_ok=True)
    saved = out / "weights" / f"trial-{number}.pt"
    proc = ranksearch("export", str(out), "--trial", str(number), "--format", "checkpoint", "-o", str(saved))
    assert proc.returncode == 0, proc.stderr
    assert "keeps no trained weights, so it trains first with its recorded configuration" in proc.stderr
    assert "the search trained it in" in proc.stderr and "done in" in proc.stderr
    assert f"trial {number}:" in proc.stdout and "trained again: val" in proc.stdout

    cases = []
    for name, given in (("m.onnx", "float"), ("m.ts", "uint8"), ("m.torchscript.pt", "float")):
        proc = ranksearch("export", str(out), "--trial", str(number), "-o", str(tmp_path / name), "--input", given)
        assert proc.returncode == 0, proc.stderr
        assert f"using its saved weights {saved}" in proc.stderr and "trains first" not in proc.stderr
        assert "from the run's saved weights" in proc.stdout and "max abs difference" in proc.stdout
        cases.append({"path": str(tmp_path / name), "input": str(tmp_path / f"{given}.npy"), "expected": str(tmp_path / "expected.npy")})
    assert "onnxruntime.InferenceSession(" in ranksearch("export", str(out), "--trial", str(number), "-o", str(tmp_path / "n.onnx")).stdout
    t = load_checkpoint(saved)
    pixels = pixels_for(t)
    np.save(tmp_path / "expected.npy", expected_outputs(t, pixels))
    np.save(tmp_path / "float.npy", t.normalise(pixels).numpy())
    np.save(tmp_path / "uint8.npy", pixels.numpy())
    report = fresh_process(cases, tmp_path)
    assert report.pop("imported") == []
    for case in cases:
        assert report[case["path"]]["diff"] <= TOLERANCE, case
        assert report[case["path"]]["meta"]["config"]["model"] == t.config["model"]
    point = tmp_path / "point.pt"  # without --format, any suffix but .onnx and .ts is still the configuration
    assert ranksearch("export", str(out), "--trial", str(number), "-o", str(point)).returncode == 0
    assert json.loads(point.read_text())["model"] == t.config["model"]


@pytest.mark.slow
def test_train_saves_a_users_network_as_onnx_that_loads_in_a_fresh_process(tmp_path, mnist_like):
    import ranksearch as api

    result = api.train(dataset="mnist", data_dir=str(mnist_like), model=SOURCE, model_args={"in_channels": 1, "width": 4},
                       epochs=1, train_subset=200, save=tmp_path / "vgg.onnx", progress=False)
    assert result.written.format == "onnx" and result.written.max_abs_diff <= TOLERANCE
    import onnx

    norm = json.loads({p.key: p.value for p in onnx.load(str(tmp_path / "vgg.onnx")).metadata_props}["normalization"])
    t = Trained(result.model, result.config.to_dict(), result.summary, norm["mean"], norm["std"])
    pixels = pixels_for(t)
    np.save(tmp_path / "expected.npy", expected_outputs(t, pixels))
    np.save(tmp_path / "float.npy", t.normalise(pixels).numpy())
    report = fresh_process([{"path": str(tmp_path / "vgg.onnx"), "input": str(tmp_path / "float.npy"),
                             "expected": str(tmp_path / "expected.npy")}], tmp_path)
    got = report[str(tmp_path / "vgg.onnx")]
    assert got["diff"] <= TOLERANCE and report["imported"] == []
    assert got["meta"]["result"]["val_accuracy"] == result.summary["val_accuracy"]
    assert got["meta"]["config"]["model"]["source"] == SOURCE


@pytest.mark.slow
def test_without_onnxruntime_saving_onnx_is_one_line_before_any_training(tmp_path, mnist_like):
    hide = "import sys; sys.modules['onnxruntime'] = None; from ranksearch.cli import main; sys.exit(main(sys.argv[1:]))"
    target = tmp_path / "m.onnx"
    proc = subprocess.run([sys.executable, "-c", hide, "train", "--dataset", "mnist", "--data-dir", str(mnist_like), "--family",
                           "conv", "--epochs", "1", "--save", str(target)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "ranksearch train: error: ONNX needs the onnxruntime package: pip install 'ranksearch[deploy]'"]
    assert not target.exists()
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", hide, "run", "--dataset", "mnist", "--data-dir", str(mnist_like), "--budget",
                           "2", "--objectives", "params,latency:onnx", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "ranksearch run: error: objective latency-onnx cannot be measured on this machine: ONNX needs the onnxruntime "
        "package: pip install 'ranksearch[deploy]'"]
    assert not out.exists()
