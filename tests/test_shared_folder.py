"""One run folder, one study: runs that share a folder share its study and train each required network
once; a folder holding another study is refused before anything is written."""

import json
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from conftest import ranksearch
from ranksearch import records
from ranksearch.api import search_config
from ranksearch.config import DEFAULT_BASELINES
from ranksearch.errors import UserError
from ranksearch.storage import check_folder_study, open_run, open_study

BUDGET = 6


def _folder_of(cfg, folder):
    """A run folder as a run of ``cfg`` leaves it: its study in study.db, its config.json."""
    folder.mkdir(exist_ok=True)
    open_study(cfg, cfg.storage or f"sqlite:///{folder.resolve() / 'study.db'}", 0, create=True)
    (folder / "config.json").write_text(json.dumps(cfg.to_dict()))
    return folder


def test_a_folder_takes_its_own_study_again_and_refuses_another(tmp_path, monkeypatch):
    mnist = search_config(dataset="mnist", budget=2)
    folder = _folder_of(mnist, tmp_path / "run")
    check_folder_study(folder, replace(mnist, budget=5))  # the same study, continued
    monkeypatch.chdir(tmp_path)  # ... also when the run named the folder's own file by a relative URL
    check_folder_study(folder, replace(mnist, storage="sqlite:///run/study.db"))
    for other, named in ((search_config(dataset="fashion-mnist", budget=2), "study 'mnist-all' (dataset mnist"),
                         (replace(mnist, storage="sqlite:///elsewhere.db"), "study 'mnist-all' (dataset mnist")):
        with pytest.raises(UserError, match=r"holds " + named.replace("(", r"\(")):
            check_folder_study(folder, other)
    (folder / "config.json").unlink()  # a study.db alone says whose the folder is too
    with pytest.raises(UserError, match="holds study 'mnist-all' in its study.db"):
        check_folder_study(folder, search_config(dataset="fashion-mnist", budget=2))


def test_another_study_of_a_folder_is_read_with_its_own_configuration(tmp_path):
    mnist = search_config(dataset="mnist", budget=2)
    folder = _folder_of(mnist, tmp_path / "run")
    url = f"sqlite:///{folder.resolve() / 'study.db'}"
    _folder_of(replace(search_config(dataset="fashion-mnist", budget=2), storage=url), tmp_path / "other")
    run = open_run(folder, study_name="fashion-mnist-all")
    assert run.config.data.dataset == "fashion-mnist" and run.folder is None  # not the folder's study, nor its files
    assert open_run(folder).config.data.dataset == "mnist"


@pytest.mark.slow
def test_three_runs_on_one_folder_train_the_parent_and_each_baseline_once(mnist_like, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ranksearch", "run", "--dataset", "mnist", "--data-dir", str(mnist_like), "--epochs", "1",
           "--train-subset", "200", "--budget", str(BUDGET), "--jobs", "1", "--out", str(out)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=1800)
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr and "Verdict for" in stdout

    study = optuna.load_study(study_name="mnist-all", storage=f"sqlite:///{out / 'study.db'}")
    trials = study.get_trials(deepcopy=False)
    # Every required network (the parent, the baselines, their confirmations) completed by exactly one trial;
    # a twin queued by another run at the same moment stopped before training (pruned, as a duplicate).
    required = [(records.required_of(t), t.state) for t in trials if records.required_of(t) is not None]
    completed = Counter((r.kind, r.name) for r, state in required if state == TrialState.COMPLETE)
    assert completed[("parent", "parent")] == 1
    assert all(completed[("baseline", name)] == 1 for name in DEFAULT_BASELINES), completed
    assert set(completed.values()) == {1}, completed
    assert all(state in (TrialState.COMPLETE, TrialState.PRUNED) for _, state in required)
    twins = [r for r, state in required if state == TrialState.PRUNED]
    assert {(r.kind, r.name) for r in twins} <= set(completed), "a required network stopped, not as a twin"

    assert records.finished_count(study) == BUDGET
    keys = [records.config_key_of(t) for t in trials if records.is_candidate(t) and t.state in records.FINISHED]
    assert len(keys) == len(set(keys)), "a configuration was trained twice"
    rows = pd.read_csv(out / "trials.csv")
    assert sorted(rows[rows.role == "baseline"].family) == sorted(DEFAULT_BASELINES)
    assert (rows.role == "candidate").sum() == BUDGET


@pytest.mark.slow
def test_a_folder_holding_another_study_is_refused_and_its_report_stays_its_own(mnist_like, tmp_path):
    out = tmp_path / "run"
    quick = ["--data-dir", str(mnist_like), "--epochs", "1", "--train-subset", "100", "--budget", "1", "--jobs", "1"]
    assert ranksearch("run", "--dataset", "mnist", *quick, "--out", str(out)).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    for study in ([], ["--study", "another"]):
        proc = ranksearch("run", "--dataset", "mnist", *quick, "--out", str(out), "--family", "light", *study)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith(f"ranksearch run: error: --out {out} holds study 'mnist-all'")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before

    hint = re.search(r"continue that study with `ranksearch (.*?)`", proc.stderr)[1].split()  # does what it says
    proc = ranksearch(*hint, "--budget", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (pd.read_csv(out / "trials.csv").role == "candidate").sum() == 2 and not (tmp_path / "runs").exists()


def test_a_queued_trial_claimed_late_counts_after_the_trials_that_started_before_it(tmp_path):
    """The budget's places go by start time: a trial queued early (a low number) but claimed late must see the
    candidate that started before it, and that one must not see it."""
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'q.db'}", directions=["maximize", "minimize"])
    study.enqueue_trial({})  # number 0, WAITING
    early = study.ask({})  # claims the queued trial at once: number 0
    assert early.number == 0
    study.enqueue_trial({})  # number 1, WAITING until someone claims it
    time.sleep(0.01)
    study.add_trial(optuna.trial.create_trial(state=TrialState.RUNNING))  # number 2, RUNNING now
    started_first = study.trials[2]
    time.sleep(0.01)
    claimed_late = study.ask()  # claims number 1, which starts after number 2
    assert (started_first.state, claimed_late.number) == (TrialState.RUNNING, 1)
    assert [t.number for t in records.running_trials(study, before=claimed_late)] == [0, 2]
    assert [t.number for t in records.running_trials(study, before=started_first)] == [0]
    assert records.running_trials(study, before=early) == []
