"""report and export on a real tiny study; the page opened in a real headless Chromium."""

import json
import shutil
import subprocess
from pathlib import Path

import optuna
import pytest

from conftest import ranksearch, write_mnist_like
from lightlayers import build_model, trainable_params
from lightlayers.paper import PAPER_CITATION, PAPER_KERAS_PARAMS
from ranksearch.report import render_html, report_data
from ranksearch.results import study_tables
from ranksearch.space import config_key
from ranksearch.storage import open_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    data = write_mnist_like(tmp_path_factory.mktemp("data"))
    out = tmp_path_factory.mktemp("runs") / "tiny"
    proc = ranksearch("run", "--dataset", "mnist", "--data-dir", str(data), "--epochs", "2", "--train-subset", "200",
                      "--budget", "7", "--out", str(out), env={"RANKSEARCH_CACHE": str(tmp_path_factory.mktemp("c"))})
    assert proc.returncode == 0, proc.stderr
    return out


def data_of(run_dir, dataset=None):
    run = open_run(str(run_dir))
    if dataset is not None:
        run.config.data.dataset = dataset
    return run.study, report_data(study_tables(run.study, run.config), run.config, run.study.study_name, str(run_dir))


def test_front_matches_optunas_best_trials(run_dir):
    study, data = data_of(run_dir)
    ours = {config_key(build_model(_spec(p)).spec) for p in data["points"] if p["number"] in data["front"]}
    theirs = {t.user_attrs["config_key"] for t in study.best_trials}
    assert ours == theirs and ours


def test_the_papers_models_are_a_marker_set_of_their_own(run_dir):
    _, data = data_of(run_dir)
    paper = {p["label"]: p for p in data["paper_models"]}
    assert list(paper) == ["k=1", "k=2", "k=3", "k=4", "k=5"]  # enqueued first, so all trained in a budget of 7
    by_number = {p["number"]: p for p in data["points"]}
    for k in range(1, 6):
        point = paper[f"k={k}"]
        assert point["keras_params"] == point["paper_keras_params"] == PAPER_KERAS_PARAMS["mnist"]["light"][k]
        trained = by_number[point["number"]]
        assert set(trained["ranks"].values()) == {k, 8}  # every conv at rank k, the head at 8
        assert point["trainable_params"] == trained["trainable_params"]
    page = render_html(data)
    assert "the paper's Light models" in page and PAPER_CITATION in page


def test_no_paper_markers_for_data_the_paper_did_not_report(run_dir):
    _, data = data_of(run_dir, dataset=str(run_dir))  # an image-folder dataset
    assert data["paper_models"] == []


def _spec(point):
    from lightlayers import reference_spec

    spec = reference_spec("mnist", "light", 1).to_dict()
    for slot, rank in point["ranks"].items():
        spec["layers"][slot]["rank"] = rank
    return spec


def test_run_writes_a_self_contained_report_with_its_data(run_dir):
    page = (run_dir / "report.html").read_text()
    assert 'src="http' not in page and "cdn.plot.ly" not in page.split("<body>")[0]
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js itself is inside
    start = page.index('id="report-data">') + len('id="report-data">')
    import html

    embedded = json.loads(html.unescape(page[start:page.index("</script>", start)]))
    assert embedded["front"] == data_of(run_dir)[1]["front"]
    assert {b["family"] for b in embedded["baselines"]} == {"conv", "separable"}
    for number in embedded["front"]:
        assert f"--trial {number} -o trial-{number}.json" in page


def test_report_command_rebuilds_from_storage_url(run_dir, tmp_path):
    url = f"sqlite:///{run_dir / 'study.db'}"
    proc = ranksearch("report", "--storage", url, "--study", "mnist-light", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "report.html").stat().st_size > 1_000_000
    assert json.loads((tmp_path / "front.json").read_text()) == json.loads((run_dir / "front.json").read_text())


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)")
def test_report_renders_in_headless_chromium_offline(run_dir, tmp_path):
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",  # no network at all
         "--virtual-time-budget=10000", "--dump-dom", (run_dir / "report.html").as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    dom = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    plots = dom.count('class="plot-container plotly"')
    assert plots == 6, f"{plots} plots rendered"
    assert dom.count("main-svg") >= 12  # each rendered plot draws its SVG layers
    assert "Pareto front" in dom and "conv baseline" in dom and "the paper's Light models" in dom


def test_export_then_train_round_trip(run_dir, tmp_path):
    front = json.loads((run_dir / "front.json").read_text())
    limit = front[-1]["trainable_params"] - 1 if len(front) > 1 else front[0]["trainable_params"]
    out = tmp_path / "point.json"
    proc = ranksearch("export", str(run_dir), "--max-params", str(limit), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    within = [p for p in front if p["trainable_params"] <= limit]
    best = max(within, key=lambda p: p["val_accuracy"])
    config = json.loads(out.read_text())
    assert config == best["config"]
    assert trainable_params(build_model(config)) == best["trainable_params"]
    proc = ranksearch("train", "--config", str(out), "--epochs", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["trainable_params"] == best["trainable_params"]
    by_trial = tmp_path / "trial.json"
    assert ranksearch("export", str(run_dir), "--trial", str(best["number"]), "-o", str(by_trial)).returncode == 0
    assert json.loads(by_trial.read_text()) == config


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--max-params", "10"], "no front member within 10 parameters"),
        (["--trial", "9999"], "no finished candidate numbered 9999"),
        ([], "exactly one of"),
        (["--trial", "0", "--max-params", "5000"], "exactly one of"),
    ],
)
def test_export_bad_input(run_dir, tmp_path, args, needle):
    proc = ranksearch("export", str(run_dir), *args, "-o", str(tmp_path / "x.json"))
    assert proc.returncode != 0 and not (tmp_path / "x.json").exists()
    assert proc.stderr.strip().count("\n") == 0 and needle in proc.stderr, proc.stderr


def test_report_and_export_on_a_folder_that_is_not_a_run(tmp_path):
    for args in (["report", str(tmp_path)], ["export", str(tmp_path), "--trial", "1", "-o", str(tmp_path / "x.json")]):
        proc = ranksearch(*args)
        assert proc.returncode != 0 and "not a run folder" in proc.stderr and "Traceback" not in proc.stderr
