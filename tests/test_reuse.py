"""From the verdict to a model in your code: the README's API example as a script, the take retrained
exactly from another folder, and a saved model loaded with one call in a process that imports only ranksearch."""

import json
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, ranksearch, require_real

pytestmark = pytest.mark.slow  # real searches and trainings


def readme_block(heading: str) -> str:
    """The first Python block under ``heading`` in README.md."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S)[1]


def test_the_readme_api_example_runs_as_a_plain_script(tmp_path):
    datasets = require_real("FashionMNIST")
    code = readme_block("## From Python").replace('"../shared/datasets"', repr(str(datasets)))
    script = tmp_path / "example.py"
    script.write_text(code)  # no `if __name__ == "__main__":` guard, as a user writes it
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "bootstrapping phase" not in proc.stderr and "Traceback" not in proc.stderr
    assert "Verdict for" in proc.stdout


def test_the_take_exported_and_retrained_from_another_folder_reproduces_the_search(mnist_like, tmp_path):
    out = tmp_path / "run"
    proc = ranksearch("run", "--dataset", "mnist", "--data-dir", str(mnist_like), "--epochs", "2", "--train-subset", "200",
                      "--budget", "5", "--jobs", "2", "--confirm-seeds", "0", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    take = json.loads((out / "summary.json").read_text())["take"]
    moved = tmp_path / "moved"  # as a committed study is on a fresh checkout: its parent's recorded path is gone
    shutil.move(out, moved)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = ranksearch("export", str(moved), "--take", "-o", str(elsewhere / "take.json"))
    assert proc.returncode == 0, proc.stderr
    config = json.loads((elsewhere / "take.json").read_text())
    assert config["threads"] == 1  # two jobs on two cores: what the search trained it with
    assert config.get("parent") in (None, str((moved / "parent.pt").resolve()))
    proc = ranksearch("train", "--config", "take.json", "--json", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    retrained = json.loads(proc.stdout.splitlines()[-1])
    assert round(retrained["val_accuracy"], 4) == round(take["val_accuracy"], 4)
    assert retrained["trainable_params"] == take["trainable_params"]


def test_a_saved_model_loads_with_one_call_and_reproduces_its_test_accuracy_on_raw_images(tmp_path):
    datasets = require_real("FashionMNIST")
    model = tmp_path / "model.pt"
    proc = ranksearch("train", "--dataset", "fashion-mnist", "--data-dir", str(datasets), "--family", "light", "--rank", "2",
                      "--epochs", "1", "--train-subset", "2000", "--save", str(model), "--json")
    assert proc.returncode == 0, proc.stderr
    recorded = json.loads(proc.stdout.splitlines()[-1])["test_accuracy"]
    use = readme_block("### Use it in your code").replace('"model.pt"', repr(str(model))).replace(
        '"../shared/datasets"', repr(str(datasets)))
    script = tmp_path / "use.py"
    script.write_text(use + "\nprint(accuracy)\n")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.split()[-1]) == pytest.approx(recorded, abs=1e-4)

    import torch

    from ranksearch import load_model

    loaded = load_model(model)  # ToTensor's 0..1 floats would predict one class for everything: refused
    with pytest.raises(ValueError, match="float images in 0..1"):
        loaded.predict(torch.rand(2, 1, 28, 28))
    assert loaded.predict(torch.rand(2, 1, 28, 28) * 255).shape == (2,)
