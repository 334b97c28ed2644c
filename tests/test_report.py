"""report and export on a real tiny study; the page opened in a real headless Chromium, scripts on and off."""

import filecmp
import html
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, ranksearch, write_mnist_like
from lightlayers import build_model, count_model, reference_spec, trainable_params
from lightlayers.paper import PAPER_CITATION, paper_results
from ranksearch.config import DEFAULT_BASELINES
from ranksearch.figures import PAPER_LABEL, cost_figure, curves, front_figure, log_ticks, y_range
from ranksearch.page import render_html
from ranksearch.report_data import report_data
from ranksearch.results import study_tables
from ranksearch.space import config_key
from ranksearch.storage import open_run
from ranksearch.verdict import verdict

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PLOTS = ("front-params", "front-costs", "test-vs-val", "curves", "hypervolume", "rank-map")
STUDY = ROOT / "studies" / "fashion-mnist-light"
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)")


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


def chromium(page: Path, profile: Path, *flags: str) -> str:
    """The DOM of ``page`` after headless Chromium ran it, with no network at all."""
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
         "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",  # no network at all
         "--window-size=1400,1000", "--virtual-time-budget=15000", *flags, "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def rendered_text(page: Path, profile: Path, scripts: bool, expression: str = "document.body.innerText"):
    """``expression`` (default ``document.body.innerText``) evaluated on ``page`` in headless Chromium, in a
    1400 x 1000 window, with its scripts on or off.

    Through the DevTools protocol on a pipe (fds 3 and 4), because --dump-dom needs JavaScript;
    innerText is what is rendered: a <noscript> note only when scripts are off.
    """
    r_in, w_in = os.pipe()  # we write, the browser reads fd 3
    r_out, w_out = os.pipe()  # the browser writes fd 4, we read

    def child():
        a, b = os.dup(r_in), os.dup(w_out)  # above 4, so the dup2s below overwrite neither
        os.dup2(a, 3)
        os.dup2(b, 4)

    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--remote-debugging-pipe", "about:blank"],
        preexec_fn=child, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(r_in)
    os.close(w_out)
    to_browser, from_browser = os.fdopen(w_in, "wb", buffering=0), os.fdopen(r_out, "rb", buffering=0)
    pending, counter = [b""], [0]

    def send(method, params=None, session=None):
        counter[0] += 1
        message = {"id": counter[0], "method": method, "params": params or {}, **({"sessionId": session} if session else {})}
        to_browser.write(json.dumps(message).encode() + b"\0")
        return counter[0]

    def until(match):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            while b"\0" in pending[0]:
                raw, pending[0] = pending[0].split(b"\0", 1)
                message = json.loads(raw)
                if match(message):
                    return message
            chunk = from_browser.read(1 << 16)
            assert chunk, "the browser closed its pipe"
            pending[0] += chunk
        raise TimeoutError("no answer from the browser")

    def call(method, params=None, session=None):
        number = send(method, params, session)
        return until(lambda m: m.get("id") == number)["result"]

    try:
        target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        call("Page.enable", session=session)
        call("Emulation.setDeviceMetricsOverride", {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
             session)
        call("Emulation.setScriptExecutionDisabled", {"value": not scripts}, session)
        send("Page.navigate", {"url": page.as_uri()}, session)
        until(lambda m: m.get("method") == "Page.loadEventFired")
        result = call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        return result["result"]["value"]
    finally:
        proc.kill()
        proc.wait()
        to_browser.close()
        from_browser.close()


def embedded(page: str) -> dict:
    """The numbers a page embeds as JSON."""
    start = page.index('id="report-data">') + len('id="report-data">')
    return json.loads(html.unescape(page[start:page.index("</script>", start)]))


def _spec(point):
    spec = reference_spec("mnist", "light", 1).to_dict()
    for slot, rank in point["ranks"].items():
        spec["layers"][slot] = {"family": point["families"][slot], "rank": rank}
    return spec


@pytest.mark.slow
def test_front_matches_optunas_best_trials(run_dir):
    study, data = data_of(run_dir)
    ours = {config_key(build_model(_spec(p)).spec) for p in data["points"] if p["number"] in data["front"]}
    from optuna.study._multi_objective import _get_pareto_front_trials_by_trials

    from ranksearch.records import is_candidate

    done = [t for t in study.trials if t.state.name == "COMPLETE" and is_candidate(t)]
    theirs = {t.user_attrs["config_key"] for t in _get_pareto_front_trials_by_trials(done, study.directions)}
    assert ours == theirs and ours


@pytest.mark.slow
def test_the_papers_reported_figures_are_a_cited_marker_set(run_dir):
    _, data = data_of(run_dir)
    reported = data["paper_reported"]
    table = paper_results("mnist")
    assert [p["label"] for p in reported] == [r.label for r in table] == [
        "Conv2D", "SeparableConv2D", "LightLayers k=1", "LightLayers k=2", "LightLayers k=3", "LightLayers k=4"]
    for p, r in zip(reported, table):
        assert p["test_accuracy"] == r.test_accuracy and p["paper_keras_params"] == r.keras_params
        counts = count_model(build_model(reference_spec("mnist", r.family, r.k)))
        # placed at the trainable count of the same network; the paper's own count is the Keras one
        assert (p["trainable_params"], p["keras_params"], p["flops"]) == (counts.trainable_params, r.keras_params, counts.flops)
        assert p["trainable_params"] < p["paper_keras_params"]
    page = render_html(data)
    assert PAPER_LABEL in page and PAPER_CITATION in page and "Tables 1-4" in page and "never trained here" in page


@pytest.mark.slow
def test_under_a_parent_start_the_papers_models_are_not_trained_but_its_figures_are_shown(run_dir):
    """The paper's uniform Light models are its from-scratch setting (tests/test_study.py trains them so);
    a search that inherits from a parent starts from the warm starts read off it instead."""
    _, data = data_of(run_dir)
    assert data["paper_trained"] == [] and len(data["paper_reported"]) == 6


@pytest.mark.slow
def test_no_paper_markers_for_data_the_paper_did_not_report(run_dir):
    _, data = data_of(run_dir, dataset=str(run_dir))  # an image-folder dataset
    assert data["paper_reported"] == [] and data["paper_trained"] == []
    assert "The paper reported no results for this dataset" in render_html(data)


@pytest.mark.slow
def test_run_writes_a_self_contained_report_with_its_data(run_dir):
    page = (run_dir / "report.html").read_text()
    assert 'src="http' not in page and "cdn.plot.ly" not in page.split("<body>")[0]
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js itself is inside
    data = embedded(page)
    assert data["front"] == data_of(run_dir)[1]["front"]
    assert {b["family"] for b in data["baselines"]} == {"parent", *DEFAULT_BASELINES}  # the parent and the baselines
    for number in data["front"]:
        assert f"--trial {number} -o trial-{number}.json" in page


@pytest.mark.slow
def test_the_page_opens_with_the_verdict_then_the_front_and_the_table(run_dir):
    _, data = data_of(run_dir)
    page = render_html(data)
    assert page.index('id="verdict"') < page.index('id="plot-front-params"') < page.index('id="front-table"')
    for sentence in data["verdict"]["sentences"]:
        assert html.escape(sentence) in page
    for name in ("trials.csv", "front.json", "summary.json"):
        assert f'<a href="{name}">' in page
    assert "<noscript><style>.plot { display: none; }</style></noscript>" in page  # no blank plot heights without JS
    start = page.index('<noscript><p class="warn"')
    noscript = page[start:page.index("</noscript>", start)]
    assert "JavaScript is off" in noscript and "trials.csv" in noscript and "front.json" in noscript
    table = page[page.index('id="front-table"'):]
    table = table[:table.index("</table>")]
    assert "seconds to train" in table and "latency ms (batch 1)" in table
    assert "ONNX Runtime" not in table  # this search measured PyTorch eager's latency only
    for b in data["baselines"]:  # the baselines are rows of the table, with their cost
        assert b["label"] in table and f"<td>{b['trainable_params']:,}</td>" in table
        assert b["latency_ms"] is not None and f"{b['latency_ms']:.3f}" in table
    assert "take: the" in table  # the verdict's pick is marked


def test_the_table_marks_the_baselines_the_search_did_not_beat_and_no_other_row():
    _, data = data_of(STUDY)
    unbeaten = {u["baseline"]["family"] for u in data["verdict"]["unbeaten"]}
    assert unbeaten == {"conv", "separable"}  # the committed Fashion-MNIST study: both above its front at their size
    table = render_html(data)
    rows = table[table.index('id="front-table"'):].split("<tr")[2:]
    marked = [r for r in rows if "no candidate this small is as accurate" in r]
    names = {r.split('<td class="l">', 1)[1].split("<", 1)[0] for r in marked}  # each row's first cell
    assert names == {b["label"] for b in data["baselines"] if b["family"] in unbeaten} and len(marked) == 2


@pytest.mark.slow
def test_each_baselines_command_trains_that_baseline_as_the_search_did(tmp_path):
    """The committed headline has thinner and inherited baselines: each row's command exports exactly it."""
    folder = ROOT / "studies" / "cifar10-all"
    _, data = data_of(folder)
    table = render_html(data)
    rows = table[table.index('id="front-table"'):].split("<tr")[2:]
    commands = {html.unescape(r.split("<code>")[1].split("</code>")[0]): r for r in rows if "--baseline " in r}
    assert len(commands) == len(data["baselines"])  # every baseline, the parent among them
    for command in commands:
        export = command.split(" && ")[0].split()[1:]
        point = tmp_path / export[export.index("-o") + 1]
        export[export.index("-o") + 1] = str(point)
        proc = ranksearch(*export)
        assert proc.returncode == 0, proc.stderr
        config = json.loads(point.read_text())
        flag = export[export.index("--baseline") + 1]
        row = next(p for p in data["baselines"] if p["family"] == flag)
        assert trainable_params(build_model(config["model"])) == row["trainable_params"], flag
        assert (config.get("parent") is not None) == row["lineage"].startswith("inherits"), flag


@pytest.mark.slow
def test_the_verdict_in_the_page_is_the_verdict_of_the_tables(run_dir):
    run = open_run(str(run_dir))
    v = verdict(study_tables(run.study, run.config), run.config)
    data = embedded((run_dir / "report.html").read_text())
    assert data["verdict"]["sentences"] == v.sentences
    cost = data["verdict"]["cost"]
    assert cost["wall_seconds"] > 0  # recorded by this run
    assert cost["epochs_trained"] == pytest.approx(sum(p["epochs_trained"] for p in data["points"]), abs=0.1)
    assert cost["epochs_budget"] == 7 * 1  # 7 candidates x 1 fine-tune epoch (a third of 2)


def test_axes_are_readable():
    assert log_ticks(2035, 21383)[1] == ["3k", "5k", "7k", "10k", "20k"]
    assert log_ticks(11.6, 21)[1] == ["12", "14", "16", "18", "20"]
    assert log_ticks(280_000, 2_100_000)[1][-3:] == ["1M", "1.5M", "2M"]
    # complete points and baselines set the accuracy axis; the paper's figures widen it only nearby
    lo, hi = y_range([0.80, 0.85, 0.8873], [0.789, 0.9147, 0.0275])
    assert 0.77 < lo < 0.789 and 0.9147 < hi < 0.93


@pytest.mark.slow
def test_pruned_points_do_not_stretch_the_front(run_dir):
    _, data = data_of(run_dir)
    data = json.loads(json.dumps(data))
    last = data["points"][-1]
    last.update(state="PRUNED", val_accuracy=None, test_accuracy=None, last_val_accuracy=0.01, on_front=False)
    data["front"] = [n for n in data["front"] if n != last["number"]]
    fig = front_figure(data, "trainable_params", data["front"], "t")
    lo = fig.layout.yaxis.range[0]
    pruned = next(t for t in fig.data if t.name.startswith("pruned"))
    assert lo > 0.01 and min(pruned.y) >= lo and "triangle-down" in pruned.marker.symbol  # drawn at the floor, marked


@pytest.mark.slow
def test_the_other_fronts_offer_flops_latency_and_training_time(run_dir):
    _, data = data_of(run_dir)
    fig = cost_figure(data)
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == [
        "FLOPs", "inference latency in PyTorch eager (batch 1)", "inference latency in PyTorch eager (batch 256)",
        "training wall time of the candidate"]
    shown = [{t.name for t, on in zip(fig.data, b.args[0]["visible"]) if on} for b in buttons]
    assert all("Pareto front of the candidates" in names and "Conv2d baseline" in names for names in shown)
    assert "pruned (last validation accuracy; ▼ below the axis)" not in shown[3]  # a pruned run's seconds are of fewer epochs
    assert [b.args[0]["visible"].count(True) for b in buttons] == [sum(t.visible is not False for t in fig.data)] + \
        [b.args[0]["visible"].count(True) for b in buttons][1:]  # the first axis is the one drawn
    assert data["cost_fronts"]["latency_ms"] and all(isinstance(n, int) for n in data["cost_fronts"]["seconds"])


@pytest.mark.slow
def test_report_command_rebuilds_from_storage_url(run_dir, tmp_path):
    url = f"sqlite:///{run_dir / 'study.db'}"
    proc = ranksearch("report", "--storage", url, "--study", "mnist-all", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "report.html").stat().st_size > 1_000_000
    assert json.loads((tmp_path / "front.json").read_text()) == json.loads((run_dir / "front.json").read_text())
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary == embedded((tmp_path / "report.html").read_text())["verdict"]


@needs_chromium
@pytest.mark.slow
def test_report_renders_in_headless_chromium_offline(run_dir, tmp_path):
    dom = chromium(run_dir / "report.html", tmp_path / "profile")
    assert dom.count('class="plot-container plotly"') == len(PLOTS)
    for name in PLOTS:
        plot = dom[dom.index(f'id="plot-{name}"'):]
        assert 'class="plot-container plotly"' in plot[:3000] and "main-svg" in plot[:6000], f"{name} was not drawn"
    verdict_box = dom[dom.index('id="verdict"'):dom.index('id="plot-front-params"')]
    assert "Verdict: which model to take" in verdict_box
    assert embedded(dom)["verdict"]["sentences"][0] in html.unescape(verdict_box)
    front = dom[dom.index('id="plot-front-params"'):dom.index('id="plot-front-costs"')]
    assert f"{PAPER_LABEL}: {PAPER_CITATION}" in front  # the paper's marker set in the drawn legend
    assert "Pareto front of the candidates" in front and "SeparableConv2d baseline" in front
    assert front.count('class="textpoint"') >= 6 + 2  # the paper's 6 points and at least conv and separable labelled


@needs_chromium
@pytest.mark.slow
def test_with_javascript_off_the_page_says_where_the_numbers_are(run_dir, tmp_path):
    off = rendered_text(run_dir / "report.html", tmp_path / "off", scripts=False)
    assert "JavaScript is off" in off and "trials.csv" in off and "front.json" in off
    assert "Verdict: which model to take" in off and "Take " in off  # the verdict and the table need no script
    on = rendered_text(run_dir / "report.html", tmp_path / "on", scripts=True)
    assert "JavaScript is off" not in on and "Verdict: which model to take" in on


@needs_chromium
@pytest.mark.slow
@pytest.mark.parametrize("name", ["cifar10-all", "resnet18-cifar10"])
def test_the_table_fits_a_1400_pixel_window_without_scrolling_the_page(name, tmp_path):
    """Every column of the table (test accuracy, latency, the command) is on screen, or the table scrolls
    in its own box; the page itself never scrolls sideways. The committed headline and the ResNet-18
    study (its layers named by module path) both reached past 1,750 pixels before."""
    folder = tmp_path / name
    shutil.copytree(ROOT / "studies" / name, folder)
    assert ranksearch("report", str(folder)).returncode == 0
    sizes = json.loads(rendered_text(folder / "report.html", tmp_path / "profile", True, (
        "JSON.stringify({page: document.documentElement.scrollWidth, window: window.innerWidth, "
        "box: document.getElementById('front-table').parentElement.getBoundingClientRect().right})")))
    assert sizes["page"] <= sizes["window"] and sizes["box"] <= sizes["window"], sizes


@pytest.mark.slow
def test_committed_study_report_rebuilds_from_its_study_db(tmp_path):
    """The README's command on a copy of the committed folder (report.html is not committed: 4 MB of
    plotly.js each): it is written, its verdict equals the committed summary.json, and trials.csv,
    front.json, config.json and study.db are untouched."""
    folder = tmp_path / "fashion-mnist-light"
    shutil.copytree(STUDY, folder)
    proc = ranksearch("report", str(folder))
    assert proc.returncode == 0, proc.stderr
    for name in ("trials.csv", "front.json", "config.json", "study.db"):
        assert filecmp.cmp(STUDY / name, folder / name, shallow=False), f"{name} was rewritten"
    fresh = embedded((folder / "report.html").read_text())
    assert fresh["verdict"] == json.loads((STUDY / "summary.json").read_text())
    assert fresh["verdict"]["take"]["trainable_params"] == 3387  # the separable baseline
    assert len(fresh["paper_reported"]) == 8 and (STUDY / "report.png").stat().st_size > 100_000


@pytest.mark.slow
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
@pytest.mark.slow
def test_export_bad_input(run_dir, tmp_path, args, needle):
    proc = ranksearch("export", str(run_dir), *args, "-o", str(tmp_path / "x.json"))
    assert proc.returncode != 0 and not (tmp_path / "x.json").exists()
    assert proc.stderr.strip().count("\n") == 0 and needle in proc.stderr, proc.stderr


@pytest.mark.slow
def test_report_and_export_on_a_folder_that_is_not_a_run(tmp_path):
    for args in (["report", str(tmp_path)], ["export", str(tmp_path), "--trial", "1", "-o", str(tmp_path / "x.json")]):
        proc = ranksearch(*args)
        assert proc.returncode != 0 and "not a run folder" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_learning_curves_draw_an_inherited_networks_fine_tune_after_its_parents_epochs(run_dir):
    _, data = data_of(run_dir)
    parent = next(b for b in data["baselines"] if b["role"] == "parent")
    trained = len(parent["val_curve"])
    traces = {t.name: t for t in curves(data).data if t.name}
    assert list(traces["the parent"].x) == list(range(1, trained + 1))
    conv = next(b for b in data["baselines"] if b["family"] == "conv")
    assert conv["lineage"].startswith("inherits") and list(traces["Conv2d baseline"].x)[0] == trained + 1
    front = [t for t in curves(data).data if t.legendgroup == "front"]
    assert front and all(t.x[0] == trained + 1 for t in front)  # a candidate's first fine-tune epoch follows the parent's
    data["start"] = "scratch"  # the paper's setting: every network from its own first epoch
    for b in data["baselines"]:
        b["lineage"] = "from scratch"
    assert all(t.x[0] == 1 for t in curves(data).data if t.x and t.x[0] is not None)
