"""The committed studies' fronts taken home: every front member of every committed Fashion-MNIST and
CIFAR-10 study, written as ONNX and TorchScript, loads in a fresh process that imports neither
ranksearch nor lightlayers and reproduces PyTorch within ``TOLERANCE`` (fp32).

The studies are found by globbing ``studies/**/front.json`` and reading each study's
``config.json``; nothing here names a trial. A member's configuration is the one ``ranksearch
export`` trains: ``point_config`` of the study's front row (``study_tables`` over its
``study.db``), or, for a committed study without a ``study.db``, the configuration its
``front.json`` records.

The committed studies keep no trained weights, and training their fronts again takes hours, so
each network is the one the run starts training from, built from that configuration by the
trainer's own ``make_network`` with the recipe's settings applied, its weights untrained:

- a member that inherits (``start="parent"``) is the committed ``parent.pt`` factorised layer by
  layer, as the run does (without the run's BatchNorm re-estimation on training batches, which
  needs the dataset; the parent's trained statistics stay);
- any other member is randomly initialised, its BatchNorm statistics and affine weights then set
  away from identity (``test_deploy._busy_batchnorm``) so a BatchNorm exported wrong shows;
- a user's network whose ``--weights`` file is not committed (``resnet18-cifar10``'s
  ``resnet18.pt``) is built without it: the same layers and parameter count, its factorised
  layers randomly initialised instead of decomposed from the trained network.

Each network's input normalisation is a stand-in (the real one is the training split's
statistics, which need the dataset); it changes nothing of what is checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conftest import ROOT
from lightlayers import count_model
from lightlayers.families import KINDS, families
from lightlayers.network import NetworkSpec, load_state
from ranksearch.config import TrainConfig
from ranksearch.deploy import CHECK_BATCH, TOLERANCE, Trained, write
from ranksearch.results import point_config, study_tables
from ranksearch.storage import open_run
from ranksearch.trainer import apply_recipe, make_network

pytest.importorskip("onnxruntime", reason="the deploy extra is not installed (pip install '.[deploy]')")
pytest.importorskip("onnx", reason="the deploy extra is not installed (pip install '.[deploy]')")

from test_deploy import _busy_batchnorm, expected_outputs, fresh_process, pixels_for  # noqa: E402 (after the skip)

DATASETS = ("fashion-mnist", "cifar10")
STUDIES = ROOT / "studies"
PARENT_FILE = "parent.pt"  # the committed parent of a study that inherits from one
# Both formats and both inputs, two files a member (tests/test_deploy.py writes all four per family).
FILES = (("onnx", ".onnx", "float"), ("torchscript", "-pixels.ts", "uint8"))


@dataclass
class Member:
    """One front member of a committed study: what front.json records, and the configuration export uses."""

    study: str  # the study's folder under studies/
    folder: Path
    dataset: str
    recorded: dict[str, Any]  # its front.json entry
    config: dict[str, Any]  # the point's configuration (TrainConfig.to_dict())

    @property
    def name(self) -> str:
        return f"{self.study.replace('/', '+')}-trial{self.recorded['number']}"

    @property
    def families(self) -> set[str]:
        return {layer["family"] for layer in self.recorded["config"]["model"]["layers"].values()}


def _without_parent(config: dict[str, Any]) -> dict[str, Any]:
    """A configuration without the parent's location, which a study moved since its run resolves anew."""
    return {k: v for k, v in config.items() if k != "parent"}


def _point_configs(folder: Path, recorded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The front members' configurations as ``ranksearch export`` takes them, in front.json's order."""
    if not (folder / "study.db").exists():  # a study committed without its storage: its front.json is all there is
        configs = [TrainConfig.from_dict(m["config"]).to_dict() for m in recorded]
        for c in configs:  # moved since its run: its own parent, as records.parent_weights finds it
            if c.get("parent") and not Path(c["parent"]).exists() and (folder / PARENT_FILE).exists():
                c["parent"] = str((folder / PARENT_FILE).resolve())
        return configs
    run = open_run(str(folder))
    tables = study_tables(run.study, run.config, run.folder)
    assert [r.number for r in tables.front] == [m["number"] for m in recorded], f"{folder}: the front is not front.json's"
    return [point_config(r, run.config, tables.parent_weights) for r in tables.front]


def committed_members() -> list[Member]:
    """Every front member of every committed study of ``DATASETS`` (studies/**/front.json beside a config.json)."""
    members = []
    for front in sorted(STUDIES.glob("**/front.json")):
        folder = front.parent
        if not (folder / "config.json").exists():
            continue
        dataset = json.loads((folder / "config.json").read_text())["data"]["dataset"]
        if dataset not in DATASETS:
            continue
        recorded = json.loads(front.read_text())
        study = folder.relative_to(STUDIES).as_posix()
        members += [Member(study, folder, dataset, m, c) for m, c in zip(recorded, _point_configs(folder, recorded),
                                                                         strict=True)]
    return members


def build(member: Member) -> Trained:
    """The network ``member``'s configuration trains from, as the trainer builds it (see the module docstring)."""
    cfg = TrainConfig.from_dict(member.config, member.name)
    spec = cfg.model
    if isinstance(spec, NetworkSpec) and spec.weights and not Path(spec.weights).exists():
        spec = replace(spec, weights=None)  # its --weights file is not committed
    parent = load_state(cfg.parent) if cfg.parent else None
    torch.manual_seed(member.recorded["number"])
    model = make_network(spec, parent).to(memory_format=torch.channels_last)
    apply_recipe(model, cfg.recipe)
    if parent is None:
        _busy_batchnorm(model, member.recorded["number"])
    counts = count_model(model)
    c = spec.in_channels
    return Trained(model.eval(), member.config,
                   {"trainable_params": counts.trainable_params, "keras_params": counts.keras_params, "flops": counts.flops},
                   [30.0 + 20 * i for i in range(c)], [60.0 + 5 * i for i in range(c)])


def layer_classes(family: str) -> set[str]:
    """The class names a family's layers are built as (of any kind: LightConv2d and LightLinear for light)."""
    return {f.layer.rsplit(".", 1)[-1] for kind in KINDS for f in families(kind) if f.name == family}


@pytest.fixture(scope="module")
def members() -> list[Member]:
    return committed_members()


@pytest.fixture
def one_thread():
    """One intra-op thread while writing and checking (ONNX Runtime's check takes torch's count): a light load."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_the_committed_fronts_are_found_and_build_as_their_runs_built_them(members):
    """Both datasets have front members; each member's configuration is its front.json's, and the network built
    from it has the layers of its families and the parameters and FLOPs the study recorded."""
    by_dataset = {d: [m for m in members if m.dataset == d] for d in DATASETS}
    for dataset, found in by_dataset.items():
        assert found, f"no committed {dataset} study with a front under {STUDIES}: the export test would check nothing"
    for m in members:
        recorded = TrainConfig.from_dict(m.recorded["config"]).to_dict()  # an older front.json lacks newer defaults
        assert _without_parent(m.config) == _without_parent(recorded), m.name
        assert (m.config.get("parent") is None) == (recorded.get("parent") is None), m.name
        if m.config.get("parent"):  # it inherits from the parent committed beside its study
            assert Path(m.config["parent"]).read_bytes() == (m.folder / PARENT_FILE).read_bytes(), m.name
        t = build(m)
        assert {k: m.recorded[k] for k in t.result} == t.result, m.name
        for slot, layer in m.config["model"]["layers"].items():
            built = type(t.model.get_submodule(slot)).__name__
            assert built in layer_classes(layer["family"]), (m.name, slot, layer, built)


@pytest.mark.slow
def test_every_committed_front_member_loads_in_a_fresh_process(members, tmp_path, one_thread):
    """The done-when, on the committed studies: each front member of every Fashion-MNIST and CIFAR-10 study,
    written as ONNX (float input) and TorchScript (uint8 input), loads in one fresh process without ranksearch
    or lightlayers and reproduces PyTorch within 1e-4, its output shape and its configuration in its metadata."""
    cases = []
    for m in members:
        t = build(m)
        pixels = pixels_for(t)
        np.save(tmp_path / f"{m.name}-expected.npy", expected_outputs(t, pixels))
        np.save(tmp_path / f"{m.name}-float.npy", t.normalise(pixels).numpy())
        np.save(tmp_path / f"{m.name}-uint8.npy", pixels.numpy())
        for fmt, suffix, given in FILES:
            path = tmp_path / f"{m.name}{suffix}"
            written = write(t, path, fmt, given, pixels=pixels)
            assert written.max_abs_diff <= TOLERANCE, (path.name, written.max_abs_diff)
            cases.append({"path": str(path), "input": str(tmp_path / f"{m.name}-{given}.npy"),
                          "expected": str(tmp_path / f"{m.name}-expected.npy"), "member": m, "result": t.result,
                          "classes": t.config["model"]["num_classes"]})
    report = fresh_process([{k: c[k] for k in ("path", "input", "expected")} for c in cases], tmp_path)
    assert report.pop("imported") == []
    assert len(report) == len(cases) == len(FILES) * len(members)
    for case in cases:
        got, m = report[case["path"]], case["member"]
        assert got["diff"] <= TOLERANCE, (case["path"], got["diff"])
        assert got["shape"] == [CHECK_BATCH, case["classes"]], case["path"]
        assert got["meta"]["config"] == m.config, case["path"]
        assert got["meta"]["result"] == case["result"], case["path"]
    for dataset in DATASETS:  # no dataset left out, and every family its fronts hold is in a file that loaded
        loaded = [report[c["path"]]["meta"]["config"] for c in cases if c["member"].dataset == dataset]
        assert loaded, f"no {dataset} front member was exported"
        in_files = {layer["family"] for config in loaded for layer in config["model"]["layers"].values()}
        assert in_files == set().union(*(m.families for m in members if m.dataset == dataset)), dataset
