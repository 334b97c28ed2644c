"""The committed studies read as they were written: their verdict rebuilds byte for byte, their trials.csv value for value."""

import json
import shutil

import pandas as pd
import pytest

from conftest import ROOT
from ranksearch.report import rebuild_report
from ranksearch.results import study_tables, trials_frame
from ranksearch.storage import open_run

STUDIES = sorted(p.parent.name for p in (ROOT / "studies").glob("*/study.db"))


@pytest.mark.parametrize("name", STUDIES)
def test_a_committed_study_reads_as_its_trials_csv(name):
    folder = ROOT / "studies" / name
    run = open_run(str(folder))
    ours = trials_frame(study_tables(run.study, run.config))
    committed = pd.read_csv(folder / "trials.csv")
    assert len(ours) == len(committed)
    rebuilt = pd.read_csv(pd.io.common.StringIO(ours.to_csv(index=False)))
    for column in committed.columns:  # a file written before a column existed lacks it
        assert column in rebuilt.columns, column
        pd.testing.assert_series_equal(rebuilt[column], committed[column], check_dtype=False, rtol=1e-9, obj=column)


@pytest.mark.parametrize("name", [n for n in STUDIES if (ROOT / "studies" / n / "summary.json").exists()])
def test_report_rebuilds_a_committed_summary_byte_for_byte(name, tmp_path):
    folder = tmp_path / name
    shutil.copytree(ROOT / "studies" / name, folder)
    rebuild_report(str(folder), None, None, None)
    committed = (ROOT / "studies" / name / "summary.json").read_text()
    assert (folder / "summary.json").read_text() == committed
    for file in ("trials.csv", "front.json", "config.json"):
        assert (folder / file).read_bytes() == (ROOT / "studies" / name / file).read_bytes(), f"{file} was rewritten"
    assert json.loads(committed)["sentences"]


@pytest.mark.slow
def test_export_by_size_says_when_a_baseline_within_it_is_more_accurate(tmp_path):
    """--max-params picks among the front; a baseline that beats the pick within the limit is named, and
    where no front member fits, a baseline that does is offered."""
    from conftest import ranksearch

    fm, resnet = ROOT / "studies" / "fashion-mnist-light", ROOT / "studies" / "resnet18-cifar10"
    separable = next(b for b in json.loads((fm / "summary.json").read_text())["unbeaten"]
                     if b["baseline"]["family"] == "separable")["baseline"]
    point = tmp_path / "p.json"
    proc = ranksearch("export", str(fm), "--max-params", str(separable["trainable_params"] + 100), "-o", str(point))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("trial ") and json.loads(point.read_text())["model"]  # a front member, as documented
    assert (f"note: baseline separable ({separable['trainable_params']:,} parameters, val {separable['val_accuracy']:.4f}) "
            "is more accurate") in proc.stdout and "--baseline separable exports it" in proc.stdout
    proc = ranksearch("export", str(fm), "--max-params", str(separable["trainable_params"] - 100), "-o", str(point))
    assert proc.returncode == 0 and "note:" not in proc.stdout + proc.stderr  # no baseline that small
    small = next(b["baseline"] for b in json.loads((resnet / "summary.json").read_text())["unbeaten"]
                 if b["best_no_larger"] is None)  # no candidate that small
    proc = ranksearch("export", str(resnet), "--max-params", str(small["trainable_params"]), "-o", str(point))
    assert proc.returncode == 2 and "no front member within" in proc.stderr
    assert f"baseline {small['family']} fits ({small['trainable_params']:,} parameters): --baseline {small['family']}" in proc.stderr


@pytest.mark.slow
def test_export_creates_the_folder_it_writes_into(tmp_path):
    """-o models/take.json makes models/, as --out makes a run folder (the command and the API alike)."""
    from conftest import ranksearch

    import ranksearch as rs

    fm = ROOT / "studies" / "fashion-mnist-light"
    proc = ranksearch("export", str(fm), "--take", "-o", str(tmp_path / "models" / "take.json"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "models" / "take.json").read_text())["model"]
    config = rs.export(fm, take=True, to=tmp_path / "api" / "deep" / "take.json")
    assert json.loads((tmp_path / "api" / "deep" / "take.json").read_text()) == config


def test_readme_documents_every_column_and_key_of_the_committed_headline():
    """README's `trials.csv` table and its `front.json`/`summary.json` paragraph name every column and key
    the headline's files hold (the slot columns by their pattern), so a program reading them has a reference."""
    readme = (ROOT / "README.md").read_text()
    columns_table = readme.split("### `trials.csv`", 1)[1].split("### `front.json`", 1)[0]
    keys_text = readme.split("### `front.json`, `summary.json`", 1)[1].split("\n## ", 1)[0]
    folder = ROOT / "studies" / "cifar10-all"
    columns = (folder / "trials.csv").read_text().splitlines()[0].split(",")
    missing = [c for c in columns if not c.startswith(("family.", "rank.")) and f"`{c}`" not in columns_table]
    front_keys = set(json.loads((folder / "front.json").read_text())[0])
    summary_keys = set(json.loads((folder / "summary.json").read_text()))
    missing += [k for k in sorted(front_keys | summary_keys) if f"`{k}`" not in keys_text]
    assert missing == []


@pytest.mark.slow
def test_export_to_a_pt_file_says_it_holds_the_configuration(tmp_path):
    """`train --save x.pt` writes a trained checkpoint; `export -o x.pt` writes the configuration unless
    --format checkpoint: said, so nobody deploys a JSON file by its suffix."""
    from conftest import ranksearch

    fm = ROOT / "studies" / "fashion-mnist-light"
    proc = ranksearch("export", str(fm), "--take", "-o", str(tmp_path / "take.pt"))
    assert proc.returncode == 0 and json.loads((tmp_path / "take.pt").read_text())["model"]
    assert "holds the configuration as JSON, nothing trained; --format checkpoint" in proc.stdout
    proc = ranksearch("export", str(fm), "--take", "-o", str(tmp_path / "take.json"))
    assert proc.returncode == 0 and "note:" not in proc.stdout


@pytest.mark.slow
def test_a_bad_export_or_train_leaves_no_empty_folder_behind(tmp_path):
    """The folder of -o or --save is made only once the input has checked out: a trial that does not exist
    or data that is missing is one line, and the folder it named is not created."""
    from conftest import ranksearch

    fm = ROOT / "studies" / "fashion-mnist-light"
    for out in ("a/x.json", "b/x.onnx"):
        proc = ranksearch("export", str(fm), "--trial", "99999", "-o", str(tmp_path / out))
        assert proc.returncode == 2 and "no finished candidate numbered 99999" in proc.stderr, proc.stderr
    (tmp_path / "empty").mkdir()
    proc = ranksearch("train", "--dataset", "mnist", "--data-dir", str(tmp_path / "empty"), "--family", "conv",
                      "--save", str(tmp_path / "c" / "m.pt"))
    assert proc.returncode == 2 and "not found in" in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for name in ("config.json", "front.json")
                                         for p in (ROOT / "studies").rglob(name)))
def test_a_committed_study_definition_holds_no_path_of_the_machine_that_ran_it(path):
    """`ranksearch run --config studies/X/config.json` from a fresh checkout's root finds what it names, and each
    front member's configuration in front.json names the same files (the dataset, the weights, the parent beside it)."""
    absolute = [s for s in _strings(json.loads((ROOT / path).read_text())) if s.startswith("/") or ":////" in s]
    assert not absolute, f"{path}: {absolute}"


@pytest.mark.slow
def test_export_of_a_confirmed_network_gives_the_verdicts_mean_beside_its_search_seed(tmp_path):
    from conftest import ranksearch

    take = json.loads((ROOT / "studies" / "cifar10-all" / "summary.json").read_text())["take"]
    proc = ranksearch("export", str(ROOT / "studies" / "cifar10-all"), "--take", "-o", str(tmp_path / "p.json"))
    assert proc.returncode == 0, proc.stderr
    assert (f"val {take['val_accuracy_seeds'][0]:.4f}, test {take['test_accuracy_seeds'][0]:.4f} "
            f"(over {len(take['val_accuracy_seeds'])} seeds, as the verdict says: val {take['val_accuracy']:.4f}, "
            f"test {take['test_accuracy']:.4f})") in proc.stdout
