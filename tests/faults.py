"""Fault injection for real runs: kill -9, SIGINT and SIGTERM at random instants, then rerun.

Used by ``tests/test_faults.py`` (at least 30 faults in CI) and by
``studies/benchmarks/fault_injection.py`` (the long version). A fault lands at a random time
after the start, or right after a new trial row is written to the storage, or while the
results are being rewritten. After every fault the run folder's ``trials.csv`` and
``front.json`` must parse whole; every rerun must end by itself (no hang); the last rerun must
finish the budget with exactly ``budget`` distinct configurations, none trained twice.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import optuna
import pandas as pd

FAULTS = ("SIGKILL", "SIGINT", "SIGTERM")
MOMENTS = ("random", "trial row", "writing results")


@dataclass
class FaultLog:
    injected: list[tuple[str, str, float, int | None]] = field(default_factory=list)  # (signal, moment, at s, exit code)
    reruns: int = 0
    longest_run: float = 0.0


def max_trial_id(url: str) -> int:
    """The newest trial row's id, read straight from the database (SQLite or PostgreSQL)."""
    try:
        if url.startswith("sqlite:///"):
            import sqlite3

            path = url[len("sqlite:///"):]
            if not os.path.exists(path):
                return -1
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.1) as con:
                row = con.execute("select max(trial_id) from trials").fetchone()
        else:
            import psycopg

            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=2) as con:
                row = con.execute("select max(trial_id) from trials").fetchone()
        return -1 if row is None or row[0] is None else int(row[0])
    except Exception:  # table not there yet, locked for a moment
        return -1


def check_outputs(out: Path) -> None:
    """trials.csv and front.json, where they exist, are whole."""
    if (out / "trials.csv").exists():
        pd.read_csv(out / "trials.csv")
    if (out / "front.json").exists():
        json.loads((out / "front.json").read_text())


def _wait_for(proc: subprocess.Popen, condition: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        if condition():
            return True
        time.sleep(0.003)
    return False


def inject(cmd: list[str], env: dict, out: Path, url: str, faults: int, rng: random.Random,
           run_timeout: float = 180, log: FaultLog | None = None) -> FaultLog:
    """Start ``cmd`` ``faults`` times, each time hitting it with a random fault; then let it finish."""
    log = log or FaultLog()
    while len(log.injected) < faults:
        sig = rng.choice(FAULTS)
        moment = rng.choice(MOMENTS)
        started = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if moment == "trial row":
            newest = max_trial_id(url)
            _wait_for(proc, lambda: max_trial_id(url) > newest, 60)
        elif moment == "writing results":
            _wait_for(proc, lambda: any(p.name.startswith(("trials.csv.tmp", "front.json.tmp")) for p in out.glob("*.tmp*")), 30)
        else:
            _wait_for(proc, lambda: False, rng.uniform(0.5, 8.0))
        at = time.monotonic() - started
        if proc.poll() is None:
            proc.send_signal(getattr(signal, sig))
        try:
            _, err = proc.communicate(timeout=run_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"the run did not stop within {run_timeout}s of {sig} ({moment}, at {at:.2f}s)")
        # 130/143: stopped cleanly; -2/-15: the signal came before Python could handle it (nothing started yet).
        if sig != "SIGKILL" and proc.returncode not in (0, 130, 143, -2, -15):
            raise AssertionError(f"exit {proc.returncode} after {sig}: {err[-2000:]}")
        assert "Traceback" not in err, err[-3000:]
        check_outputs(out)
        log.injected.append((sig, moment, round(at, 2), proc.returncode))
        log.longest_run = max(log.longest_run, time.monotonic() - started)
    return log


def finish(cmd: list[str], env: dict, run_timeout: float = 300, log: FaultLog | None = None) -> subprocess.CompletedProcess:
    """Rerun until the command exits 0 (at most 3 times), each bounded by ``run_timeout``."""
    for _ in range(3):
        started = time.monotonic()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=run_timeout)
        if log is not None:
            log.reruns += 1
            log.longest_run = max(log.longest_run, time.monotonic() - started)
        if proc.returncode == 0:
            return proc
    raise AssertionError(f"the run did not finish: exit {proc.returncode}: {proc.stderr[-2000:]}")


def check_study(url: str, name: str, budget: int) -> None:
    """Exactly ``budget`` distinct candidates finished; none trained twice; the parent and every baseline trained
    once; nothing left running."""
    from ranksearch import records
    from ranksearch.storage import open_storage

    study = optuna.load_study(study_name=name, storage=open_storage(url, create=False))
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED") and records.is_candidate(t)]
    keys = [records.config_key_of(t) for t in finished]
    assert len(finished) == budget, f"{len(finished)} of {budget} candidates finished"
    assert len(set(keys)) == len(keys), "a configuration was trained twice"
    assert not [t.number for t in trials if t.state.name == "RUNNING"], "trials left RUNNING"
    names = [b.name for b in records.baselines(study)]
    assert sorted(names) == sorted(set(names)) and {"conv", "separable"} <= set(names), names
    assert records.parent(study) is not None, "the parent did not finish"


def ranksearch_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "ranksearch", *args]
