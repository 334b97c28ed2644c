"""The Python API, through its public names only: run, load, export, train."""

import io
import json

import pandas as pd
import pytest

import ranksearch
from conftest import ROOT
from ranksearch.config import DEFAULT_BASELINES


@pytest.mark.slow
def test_run_load_export_train_through_the_public_api(mnist_like, tmp_path):
    log = io.StringIO()
    result = ranksearch.run(dataset="mnist", data_dir=str(mnist_like), budget=4, epochs=2, train_subset=200,
                            out=tmp_path / "run", jobs=1, progress=log)
    assert isinstance(result, ranksearch.SearchResult) and result.reason == "budget reached"
    assert isinstance(result.trials, pd.DataFrame) and (result.trials.role == "candidate").sum() == 4
    assert sorted(result.baselines.family) == sorted(DEFAULT_BASELINES)
    assert list(result.front.trainable_params) == sorted(result.front.trainable_params)
    assert set(result.front.number) == {p["number"] for p in result.front_records()}
    assert "trial" in log.getvalue() and result.folder == tmp_path / "run"
    assert result.verdict.lines()
    folder = tmp_path / "run"  # what `ranksearch run` leaves, the verdict as the result says it
    assert all((folder / name).exists() for name in ("trials.csv", "front.json", "config.json", "report.html"))
    assert json.loads((folder / "summary.json").read_text()) == json.loads(json.dumps(result.verdict.to_dict()))

    again = ranksearch.load(tmp_path / "run")
    pd.testing.assert_frame_equal(again.trials, result.trials)
    assert again.config == result.config
    elsewhere = again.report(out=tmp_path / "reports" / "mnist")  # a folder not made yet, as --out
    assert elsewhere == tmp_path / "reports" / "mnist" / "report.html" and elsewhere.is_file()
    assert ranksearch.load(elsewhere.parent).trials.equals(again.trials)  # its commands work there, as --out's

    best = result.front.iloc[-1]
    point = again.export(max_params=int(best.trainable_params), to=tmp_path / "point.json")
    assert point == json.loads((tmp_path / "point.json").read_text())
    assert point == ranksearch.export(tmp_path / "run", int(best.number))
    trained = ranksearch.train(point, epochs=1, progress=False)
    assert trained.summary["trainable_params"] == best.trainable_params
    assert trained.summary["epochs"] == 1


def test_a_config_object_and_keywords_make_the_same_search(mnist_like, tmp_path):
    cfg = ranksearch.search_config(dataset="mnist", data_dir=str(mnist_like), budget=3, epochs=2)
    assert isinstance(cfg, ranksearch.SearchConfig) and cfg.study_name == "mnist-all"
    assert ranksearch.search_config(cfg.to_dict(), budget=5).budget == 5  # keywords override a config
    with pytest.raises(ValueError, match="budget must be an integer >= 1"):
        ranksearch.search_config(dataset="mnist", budget=0)
    with pytest.raises(ValueError, match="unknown setting"):
        ranksearch.search_config(dataset="mnist", budget=3, epoch=2)
    with pytest.raises(ValueError, match="unknown setting.s. epoch; known: dataset"):  # train refuses a typo too
        ranksearch.train(dataset="mnist", family="light", rank=3, epoch=2)
    weights = tmp_path / "moved-resnet18.pt"  # a configuration's own network, its weights given a new place
    weights.write_bytes(b"")
    moved = ranksearch.search_config(ROOT / "studies" / "resnet18-cifar10" / "config.json", weights=str(weights))
    assert moved.model == {"source": "torchvision.models:resnet18", "kwargs": {}, "weights": str(weights.resolve())}
    with pytest.raises(ValueError, match="name it with --model SOURCE"):
        ranksearch.search_config(dataset="mnist", budget=3, weights=str(weights))
    shares = ranksearch.search_config(dataset="mnist", budget=3, warm_shares="0.3,0.2")
    assert shares.warm_shares == (0.3, 0.2) and cfg.warm_shares == (0.25, 0.35, 0.5)
    assert ranksearch.search_config(json.loads(json.dumps(shares.to_dict()))).warm_shares == (0.3, 0.2)  # as config.json


def test_the_package_exports_what_its_all_says():
    import inspect

    for name in set(ranksearch.__all__) - {"__version__"}:
        value = getattr(ranksearch, name)
        assert (inspect.isclass(value) or inspect.isfunction(value)) and value.__name__ == name
        assert value.__module__.startswith("ranksearch.")
    assert ranksearch.__version__ == "0.1.0"
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        ranksearch.nothing_here


def test_a_study_definition_from_another_checkout_runs_in_its_own_folder(tmp_path):
    """studies/*/config.json of older runs name their own study.db where they ran; a copy elsewhere uses --out's.
    A storage the user named elsewhere is theirs, kept even before it exists."""
    definition = json.loads((ROOT / "studies" / "fashion-mnist-light" / "config.json").read_text())
    path = tmp_path / "fashion-mnist-light" / "config.json"
    path.parent.mkdir()
    kept = tmp_path / "kept" / "study.db"
    kept.parent.mkdir()
    kept.touch()
    for storage, expected in ((tmp_path / "elsewhere" / "fashion-mnist-light" / "study.db", None),  # its moved folder's
                              (kept, f"sqlite:///{kept}"),  # there: continued
                              (tmp_path / "shared" / "study.db", f"sqlite:///{tmp_path / 'shared' / 'study.db'}")):
        path.write_text(json.dumps({**definition, "storage": f"sqlite:///{storage}"}))
        assert ranksearch.search_config(path).storage == expected, storage
