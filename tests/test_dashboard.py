"""optuna-dashboard, started for real on a run's study.db: it lists the study, its objective names and the learning curves."""

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port, ranksearch, write_mnist_like

pytestmark = pytest.mark.slow  # a real study and a real optuna-dashboard server

pytest.importorskip("optuna_dashboard", reason="optuna-dashboard not installed (pip install '.[dashboard]')")


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    data = write_mnist_like(tmp_path_factory.mktemp("data"))
    run = tmp_path_factory.mktemp("runs") / "dash"
    proc = ranksearch("run", "--dataset", "mnist", "--data-dir", str(data), "--epochs", "3", "--train-subset", "200",
                      "--budget", "4", "--out", str(run), "--jobs", "1", "--pruner", "none", "--confirm-seeds", "0",
                      env={"RANKSEARCH_CACHE": str(tmp_path_factory.mktemp("c"))})
    assert proc.returncode == 0, proc.stderr
    port = free_port()
    command = str(Path(sys.executable).parent / "optuna-dashboard")  # the console script of the same environment
    server = subprocess.Popen([command, f"sqlite:///{run / 'study.db'}", "--port", str(port), "--host", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                _get(f"{base}/api/meta")
                break
            except OSError:
                assert server.poll() is None, "optuna-dashboard exited"
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_dashboard_lists_the_study_with_its_objective_names(dashboard):
    studies = _get(f"{dashboard}/api/studies")["study_summaries"]
    assert [s["study_name"] for s in studies] == ["mnist-all"]
    detail = _get(f"{dashboard}/api/studies/{studies[0]['study_id']}")
    assert detail["objective_names"] == ["val_accuracy", "trainable_params"]
    assert [d for d in detail["directions"]] in (["maximize", "minimize"], [2, 1])


def test_the_dashboard_has_every_networks_learning_curve(dashboard):
    study_id = _get(f"{dashboard}/api/studies")["study_summaries"][0]["study_id"]
    trials = [t for t in _get(f"{dashboard}/api/studies/{study_id}")["trials"] if t["state"] == "Complete"]
    curves = [[v["value"] for v in sorted(t["intermediate_values"], key=lambda v: v["step"])] for t in trials]
    assert len(trials) == 1 + 4 + 4  # the parent, four baselines, four candidates
    # Fine-tuned one epoch, the thinner baselines too (they inherit the parent's strongest channels); the parent three.
    assert sorted(len(c) for c in curves) == [1] * 8 + [3]
    for t, curve in zip(trials, curves):
        attrs = {a["key"]: a["value"] for a in t["user_attrs"]}
        assert json.loads(attrs["val_curve"]) == pytest.approx(curve)


def test_the_dashboard_shows_the_parent_and_baselines_in_plain_words(dashboard):
    study_id = _get(f"{dashboard}/api/studies")["study_summaries"][0]["study_id"]
    named = {}
    for t in _get(f"{dashboard}/api/studies/{study_id}")["trials"]:
        attrs = {a["key"]: a["value"] for a in t["user_attrs"]}
        if "name" in attrs:
            named[attrs["name"]] = attrs["lineage"]
    assert named == {"parent": "the dense network trained 3 epochs",
                     "conv": "inherits from the parent, 1 fine-tune epoch",
                     "separable": "inherits from the parent, 1 fine-tune epoch",
                     "conv@0.5": "inherits from the parent (its strongest channels), 1 fine-tune epoch",
                     "conv@0.75": "inherits from the parent (its strongest channels), 1 fine-tune epoch"}
