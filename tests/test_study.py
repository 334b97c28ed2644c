"""Real studies end to end: the CLI in subprocesses, real SQLite and PostgreSQL storages."""

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

from conftest import ranksearch

from ranksearch.config import FINETUNE_LR_FACTOR

pytestmark = pytest.mark.slow  # real studies end to end

QUICK = ["--dataset", "mnist", "--epochs", "2", "--train-subset", "200"]


def run(data: Path, out: Path, *extra: str, budget: int = 4):
    return ranksearch("run", *QUICK, "--data-dir", str(data), "--budget", str(budget), "--out", str(out), *extra)


def load(out: Path, name: str = "mnist-all") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'study.db'}")


def candidates(study):
    from ranksearch.records import is_candidate

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return [t for t in study.trials if is_candidate(t) and t.state in done]


def test_tiny_study_end_to_end(mnist_like, tmp_path):
    out = tmp_path / "run"
    proc = run(mnist_like, out, budget=6)
    assert proc.returncode == 0, proc.stderr
    printed = [line for line in proc.stdout.splitlines() if line.startswith(("  trial ", "  baseline "))]
    assert sum(r.startswith("  baseline conv@0.75 ") for r in printed) == 1  # the longest name, in the one column
    assert len({r.index(" params") for r in printed}) == 1, printed
    trials = pd.read_csv(out / "trials.csv")
    assert list(trials.columns[:13]) == [
        "number", "state", "role", "family", "trainable_params", "keras_params", "flops",
        "val_accuracy", "test_accuracy", "epochs_run", "pruned_at_epoch", "seconds", "on_front",
    ]
    assert {"rank.block1.conv1", "rank.head", "family.block3.conv2", "lineage"} <= set(trials.columns)
    # The parent first: the dense network trained once (2 epochs), saved in the run folder.
    parent = trials[trials.role == "parent"]
    assert len(parent) == 1 and parent.number.iloc[0] == 0 and parent.trainable_params.iloc[0] == 18594
    assert parent.epochs_run.iloc[0] == 2 and parent.lineage.iloc[0] == "the dense network trained 2 epochs"
    assert (out / "parent.pt").is_file()
    # Every baseline inherits like the candidates (a third of 2 epochs is 1 fine-tune epoch): the points of the
    # space factorised, the thinner networks keeping the parent's strongest channels.
    base = trials[trials.role == "baseline"]
    assert sorted(base.family) == ["conv", "conv@0.5", "conv@0.75", "separable"]
    inherited, thin = base[base.family.isin(["conv", "separable"])], base[base.family.str.contains("@")]
    assert sorted(inherited.trainable_params) == [3387, 18594]
    assert (inherited.lineage == "inherits from the parent, 1 fine-tune epoch").all() and (inherited.epochs_run == 1).all()
    assert (thin.lineage == "inherits from the parent (its strongest channels), 1 fine-tune epoch").all()
    assert (thin.epochs_run == 1).all() and (thin.energy_kept < 1).all() and (inherited.family == "conv").sum() == 1
    assert (thin.trainable_params < 18594).all() and thin.sort_values("family").trainable_params.is_monotonic_increasing
    cand = trials[trials.role == "candidate"]
    assert len(cand) == 6 and set(cand.state) <= {"COMPLETE", "PRUNED"}
    assert cand.number.min() > base.number.max()  # the required networks are queued before any candidate
    # The warm starts read off the parent come first among the candidates (the paper's models are for scratch).
    from ranksearch.storage import WARM_STARTS

    warm = load(out).user_attrs[WARM_STARTS]
    first = sorted(candidates(load(out)), key=lambda t: t.number)[:len(warm)]
    assert warm and [t.params for t in first] == warm
    assert 2649 not in set(cand.keras_params)  # the paper's Light k=1 (MNIST, Keras count) is not queued
    done = cand[cand.state == "COMPLETE"]
    assert len(done) >= 1 and done.test_accuracy.notna().all() and done.val_accuracy.between(0, 1).all()
    # Inherited networks are judged right after their decomposition (0) and a third into the fine-tune.
    inherited = pd.concat([inherited, cand])
    assert all("0.0000" in json.loads(c) and set(json.loads(c)) <= {"0.0000", "0.3333"} for c in inherited.val_checks)
    assert (inherited.epochs_trained[inherited.state == "COMPLETE"] == 1).all()
    front = json.loads((out / "front.json").read_text())
    assert front and [p["trainable_params"] for p in front] == sorted(p["trainable_params"] for p in front)
    assert set(p["number"] for p in front) == set(cand[cand.on_front].number)
    for point in front:
        assert {"trainable_params", "flops", "val_accuracy", "test_accuracy", "config"} <= set(point)
    config = json.loads((out / "config.json").read_text())
    assert config["budget"] == 6 and config["family"] == "all" and config["start"] == "parent"
    assert config["finetune"]["epochs"] == 1 and config["finetune"]["lr"] == pytest.approx(config["recipe"]["lr"] * FINETUNE_LR_FACTOR)
    # A front point's configuration is what `ranksearch train --config` accepts.
    (tmp_path / "point.json").write_text(json.dumps(front[0]["config"]))
    proc = ranksearch("train", "--config", str(tmp_path / "point.json"), "--epochs", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["trainable_params"] == front[0]["trainable_params"]


def test_from_scratch_every_network_trains_the_recipe_as_before(mnist_like, tmp_path):
    out = tmp_path / "run"
    proc = run(mnist_like, out, "--start", "scratch", budget=4)
    assert proc.returncode == 0, proc.stderr
    trials = pd.read_csv(out / "trials.csv")
    assert "parent" not in set(trials.role) and not (out / "parent.pt").exists()
    base = trials[trials.role == "baseline"]
    assert (base.lineage == "from scratch, 2 epochs").all() and (base.epochs_run == 2).all()
    # No check at 0 (a network trained from scratch is at chance there), the first rung a third of an epoch.
    assert all(set(json.loads(c)) <= {"0.3333"} for c in trials.val_checks)
    assert (trials.epochs_trained[trials.state == "COMPLETE"] == 2).all()
    config = json.loads((out / "config.json").read_text())
    assert config["start"] == "scratch" and config["finetune"] is None
    # From scratch, the paper's setting: its uniform Light models are the first candidates (MNIST's k=1..4 reported).
    from ranksearch.report_data import report_data
    from ranksearch.results import study_tables
    from ranksearch.storage import open_run

    folder = open_run(str(out))
    data = report_data(study_tables(folder.study, folder.config), folder.config, folder.study.study_name, str(out))
    trained = {p["label"]: p for p in data["paper_trained"]}
    assert list(trained) == ["k=1", "k=2", "k=3", "k=4"]
    by_number = {p["number"]: p for p in data["points"]}
    for k in range(1, 5):
        point = by_number[trained[f"k={k}"]["number"]]
        assert set(point["ranks"].values()) == {k, 8}  # every conv at rank k, the head at 8
        assert point["keras_params"] == trained[f"k={k}"]["paper_keras_params"]


def test_resume_continues_to_the_new_budget_without_retraining_baselines(mnist_like, tmp_path):
    out = tmp_path / "run"
    assert run(mnist_like, out, budget=3).returncode == 0
    before = pd.read_csv(out / "trials.csv")
    assert len(candidates(load(out))) == 3
    proc = run(mnist_like, out, budget=5)
    assert proc.returncode == 0, proc.stderr
    assert "baseline conv:" not in proc.stderr and "baseline parent:" not in proc.stderr  # nothing trained again
    assert len(candidates(load(out))) == 5
    after = pd.read_csv(out / "trials.csv")
    kept = ["number", "role", "family", "seconds", "val_curve"]
    pd.testing.assert_frame_equal(before[before.role != "candidate"][kept].reset_index(drop=True),
                                  after[after.role != "candidate"][kept].reset_index(drop=True))
    assert (after.role == "candidate").sum() == 5
    # Same budget again: nothing to do.
    assert run(mnist_like, out, budget=5).returncode == 0
    assert len(candidates(load(out))) == 5


def test_from_scratch_without_a_conv_baseline_the_run_says_it_has_no_warm_starts(mnist_like, tmp_path):
    out = tmp_path / "run"
    note = "note: no warm starts: under --start scratch they are read off the trained Conv2d baseline"
    proc = run(mnist_like, out, "--start", "scratch", "--baselines", "separable", "--confirm-seeds", "0", budget=1)
    assert proc.returncode == 0, proc.stderr
    assert note in proc.stderr
    proc = run(mnist_like, tmp_path / "with-conv", "--start", "scratch", "--confirm-seeds", "0", budget=1)
    assert proc.returncode == 0 and note not in proc.stderr


def in_process_search(data: Path, tmp_path: Path, name: str, epochs: int, budget: int, emit=lambda event: None):
    """A Search of a real SQLite study on the MNIST-like data, in this process: (search, study, storage url)."""
    from ranksearch.config import DataConfig, SearchConfig, make_recipe
    from ranksearch.data import load_splits
    from ranksearch.trial_loop import TrialLoop
    from ranksearch.storage import open_study

    cfg = SearchConfig(DataConfig("mnist", str(data), train_subset=200), make_recipe("fast", "mnist", epochs),
                       budget=budget, study_name=name, start="scratch", baselines=())
    url = f"sqlite:///{tmp_path / (name + '.db')}"
    _, splits = load_splits(cfg.data)
    study = open_study(cfg, url, 0, create=True)
    return TrialLoop(study, cfg, splits, emit), study, url


def test_a_configuration_is_never_trained_twice(mnist_like, tmp_path):
    from ranksearch.records import finished_count
    from ranksearch.space import uniform_params

    search, study, _ = in_process_search(mnist_like, tmp_path, "dup", epochs=1, budget=3)
    cfg = search.cfg
    same = uniform_params(search.template, cfg.family, 2)
    for _ in range(3):
        study.enqueue_trial(same)
    study.enqueue_trial(uniform_params(search.template, cfg.family, 1))
    search.work()
    trials = study.trials
    trained = [t for t in trials if "val_curve" in t.user_attrs]
    keys = [t.user_attrs["config_key"] for t in trained]
    assert len(keys) == len(set(keys))
    dups = [t for t in trials if "duplicate_of" in t.user_attrs]
    assert len(dups) == 2 and all(t.user_attrs["duplicate_of"] == trials[0].number for t in dups)
    assert all(t.values == trials[0].values for t in dups)
    assert finished_count(study) == 3  # duplicates do not count towards the budget


def test_a_trial_failed_by_another_process_meanwhile_is_let_go(mnist_like, tmp_path):
    """Another process (a reaper that judged it orphaned) fails the trial while it trains: no crash, it stays failed."""
    from ranksearch.space import uniform_params
    from ranksearch.storage import open_storage

    events = []
    search, study, url = in_process_search(mnist_like, tmp_path, "reaped", epochs=3, budget=2, emit=events.append)
    cfg = search.cfg

    class OtherProcessFailsIt:
        def checks(self, epochs):
            return ()

        def prune(self, study, trial):
            other = optuna.load_study(study_name="reaped", storage=open_storage(url, create=False))
            other._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
            return False

    search.pruner = OtherProcessFailsIt()
    study.enqueue_trial(uniform_params(search.template, cfg.family, 2))
    search.run_one()  # must not raise
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.FAIL
    assert len(trial.user_attrs["val_curve"]) == 1, "it stopped at the first storage write after being failed"
    assert any(e["kind"] == "line" and "finished by another process" in e["text"] for e in events)


def test_a_candidate_stopped_at_a_check_is_recorded_as_trained_there(mnist_like, tmp_path):
    """A pruner that asks for a check a third into epoch 1 and stops every candidate there."""
    from ranksearch.records import trained
    from ranksearch.results import study_tables, trials_frame
    from ranksearch.space import uniform_params

    search, study, _ = in_process_search(mnist_like, tmp_path, "checked", epochs=3, budget=1)
    cfg = search.cfg
    seen = []

    class StopAtTheCheck:
        def checks(self, epochs):
            return (0.3333,)

        def prune(self, study, trial):
            seen.append((dict(trial.user_attrs["val_checks"]), list(trial.user_attrs["val_curve"])))
            return True

    search.pruner = StopAtTheCheck()
    study.enqueue_trial(uniform_params(search.template, cfg.family, 2))
    search.run_one()
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert len(seen) == 1 and list(seen[0][0]) == ["0.3333"] and seen[0][1] == []
    assert [t.number for t in trained(study, (optuna.trial.TrialState.PRUNED,))] == [0]
    row = trials_frame(study_tables(study, cfg)).iloc[-1]
    assert row.pruned_at_epoch == 0.3333 and row.epochs_run == 0 and json.loads(row.val_checks) == seen[0][0]


CLAIM_QUEUED = """
import json, sys, time
import optuna
from ranksearch.storage import open_storage

url, start_at = sys.argv[1], float(sys.argv[2])
study = optuna.load_study(study_name="claims", storage=open_storage(url, create=False))
while time.time() < start_at:
    time.sleep(0.001)
claimed = []
while study._storage.get_all_trials(study._study_id, deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
    claimed.append(study.ask().number)
print(json.dumps(claimed))
"""


def test_two_processes_never_claim_the_same_queued_trial(tmp_path):
    """Optuna claims a queued trial by a read and then a write; on SQLite both processes could win."""
    from ranksearch.storage import open_storage

    url = f"sqlite:///{tmp_path / 'claims.db'}"
    study = optuna.create_study(study_name="claims", storage=open_storage(url), direction="maximize")
    for i in range(200):
        study.enqueue_trial({"x": i}, skip_if_exists=False)
    script = tmp_path / "claim.py"
    script.write_text(CLAIM_QUEUED)
    start_at = str(time.time() + 3)  # both start claiming at the same instant, after their imports
    procs = [subprocess.Popen([sys.executable, str(script), url, start_at], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    claims = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        claims.append(json.loads(out.strip().splitlines()[-1]))
    queued = set(range(200))
    assert queued <= set(claims[0]) | set(claims[1]), "every queued trial was claimed"
    assert not (set(claims[0]) & set(claims[1]) & queued), "no queued trial claimed by both processes"


def test_ctrl_c_then_rerun_finishes_the_study(mnist_like, tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "ranksearch", "run", "--dataset", "mnist", "--data-dir", str(mnist_like),
            "--epochs", "20", "--train-subset", "300", "--budget", "4", "--out", str(out)]
    # 20 epochs: a candidate trains for seconds, long enough to be caught RUNNING and interrupted.
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = out / "study.db"
    deadline = time.time() + 300
    while time.time() < deadline:  # wait until a candidate trial is running
        time.sleep(0.1)
        if db.exists():
            try:
                with sqlite3.connect(db) as con:
                    if con.execute("select count(*) from trials where state='RUNNING'").fetchone()[0]:
                        break
            except sqlite3.Error:
                pass
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    interrupted = load(out)
    assert any(t.state == optuna.trial.TrialState.FAIL for t in interrupted.trials)
    args[args.index("--budget") + 1] = "6"  # room for the queued paper models and the requeued one
    proc = ranksearch(*args[3:])
    assert proc.returncode == 0, proc.stderr
    study = load(out)
    assert len(candidates(study)) == 6
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL and "kind" not in t.user_attrs]
    for t in study.trials:  # an interrupted parent or baseline is trained again on the rerun
        if t.state == optuna.trial.TrialState.FAIL and "kind" in t.user_attrs:
            again = [o for o in study.trials if o.user_attrs.get("name") == t.user_attrs["name"] and o.number > t.number]
            assert any(o.state == optuna.trial.TrialState.COMPLETE for o in again), t.user_attrs["name"]
    finished_params = [t.params for t in candidates(study)]
    interrupted_params = [t.params or t.system_attrs.get("fixed_params") for t in failed]
    missing = [(t.number, t.params, t.system_attrs, t.user_attrs) for t, p in zip(failed, interrupted_params) if p not in finished_params]
    assert not missing, f"the interrupted candidate is trained on rerun: {missing}\n{[(t.number, t.state, t.params) for t in study.trials]}"


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--budget", "0"], "--budget"),
        (["--budget", "2", "--family", "tucker"], "tucker"),
        (["--budget", "2", "--objectives", "latency"], "latency"),
        (["--budget", "2", "--storage", "postgresql://nobody@127.0.0.1:9/none"], "cannot open storage"),
        (["--budget", "2", "--storage", "redis://localhost"], "redis"),
    ],
)
def test_bad_input_one_line_nonzero_exit(mnist_like, tmp_path, extra, needle):
    proc = ranksearch("run", *QUICK, "--data-dir", str(mnist_like), "--out", str(tmp_path / "run"), *extra)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and needle in errors[0] and proc.stderr.strip().endswith(errors[0]), proc.stderr
    assert "Traceback" not in proc.stderr


def test_existing_study_for_another_dataset_is_refused_and_left_as_it_was(mnist_like, tmp_path):
    out = tmp_path / "run"
    assert run(mnist_like, out, budget=2).returncode == 0
    before = (out / "study.db").read_bytes()
    fashion = tmp_path / "fashion"
    shutil.copytree(mnist_like / "MNIST", fashion / "FashionMNIST")
    proc = ranksearch("run", "--dataset", "fashion-mnist", "--data-dir", str(fashion), "--epochs", "2",
                      "--train-subset", "200", "--budget", "3", "--out", str(out), "--study", "mnist-all")
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "created for dataset mnist" in errors[0] and "Traceback" not in proc.stderr
    assert (out / "study.db").read_bytes() == before
    proc = run(mnist_like, out, "--warm-shares", "0.3", budget=2)
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert proc.returncode == 2 and len(errors) == 1 and "(warm_shares differ)" in errors[0], proc.stderr
    assert (out / "study.db").read_bytes() == before
    proc = run(mnist_like, out, "--no-warm-start", budget=2)
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert proc.returncode == 2 and len(errors) == 1 and "(warm_start differ)" in errors[0], proc.stderr
    assert (out / "study.db").read_bytes() == before


def test_two_workers_share_one_postgres_study(mnist_like, tmp_path, postgres_url):
    out = tmp_path / "run"
    budget = 8
    lead = subprocess.Popen(
        [sys.executable, "-m", "ranksearch", "run", *QUICK, "--data-dir", str(mnist_like), "--budget", str(budget),
         "--out", str(out), "--storage", postgres_url, "--study", "shared", "--pruner", "none",
         "--jobs", "1"],  # one training process per command: the test is about the two commands
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and "shared" not in optuna.get_all_study_names(postgres_url):
        time.sleep(0.5)
    worker = ranksearch("worker", "--storage", postgres_url, "--study", "shared", "--jobs", "1")
    _, lead_err = lead.communicate(timeout=600)
    assert lead.returncode == 0, lead_err
    assert worker.returncode == 0, worker.stderr
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    done = candidates(study)
    assert len(done) == budget
    assert len({t.user_attrs["worker"] for t in done}) == 2, "both processes trained candidates"
    keys = [t.user_attrs["config_key"] for t in done]
    assert len(keys) == len(set(keys))
    assert (pd.read_csv(out / "trials.csv").role == "candidate").sum() == budget


def test_worker_on_a_missing_study_is_one_line(tmp_path):
    proc = ranksearch("worker", "--storage", f"sqlite:///{tmp_path / 'none.db'}", "--study", "nope")
    assert proc.returncode != 0 and "no study 'nope'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("scheme", ["sqlite:///", "journal:///"])
def test_a_new_storage_file_gets_its_folder_as_a_run_folder_does(tmp_path, scheme):
    from ranksearch.storage import open_storage

    file = tmp_path / "not" / "yet" / ("study.db" if scheme.startswith("sqlite") else "study.log")
    study = optuna.create_study(study_name="new", storage=open_storage(f"{scheme}{file}"), direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=1.0))
    assert file.is_file() and len(optuna.load_study(study_name="new", storage=open_storage(f"{scheme}{file}", create=False)).trials) == 1


@pytest.mark.slow
def test_a_single_job_says_the_threads_it_trains_with(mnist_like, tmp_path):
    """--jobs 1 trains in the command's own process, on OMP_NUM_THREADS threads when that is set: the
    header says so, and the candidates' recorded thread count agrees."""
    out = tmp_path / "run"
    proc = ranksearch("run", "--dataset", "mnist", "--data-dir", str(mnist_like), "--epochs", "1", "--train-subset", "100",
                      "--budget", "2", "--jobs", "1", "--confirm-seeds", "0", "--out", str(out), env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert ", 1 job x 1 thread" in proc.stderr and "1 threads" not in proc.stderr
    candidates = pd.read_csv(out / "trials.csv").query("role == 'candidate'")
    assert len(candidates) and set(candidates["latency_threads"]) == {1}
