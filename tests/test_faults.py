"""Faults injected into real runs (kill -9, SIGINT, SIGTERM at random instants), on SQLite and PostgreSQL."""

import os
import random

import pytest

from conftest import write_mnist_like
from faults import check_study, finish, inject, ranksearch_cmd

pytestmark = pytest.mark.slow  # injected faults in real runs: minutes

BUDGET = 24


def _cmd(data, out, *extra):
    return ranksearch_cmd("run", "--dataset", "mnist", "--data-dir", str(data), "--epochs", "3", "--train-subset", "200",
                          "--budget", str(BUDGET), "--out", str(out), "--study", "faults", *extra)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_random_faults_then_rerun_finish_the_budget_on_sqlite(tmp_path, jobs):
    data = write_mnist_like(tmp_path / "data")
    out = tmp_path / "run"
    env = {**os.environ}
    cmd = _cmd(data, out, "--jobs", jobs)
    url = f"sqlite:///{out / 'study.db'}"
    log = inject(cmd, env, out, url, faults=15, rng=random.Random(int(jobs)))
    finish(cmd, env, log=log)
    check_study(url, "faults", BUDGET)
    assert len(log.injected) == 15
    assert {s for s, _, _, _ in log.injected} == {"SIGKILL", "SIGINT", "SIGTERM"}


def test_random_faults_then_rerun_finish_the_budget_on_postgres(tmp_path, postgres_url):
    data = write_mnist_like(tmp_path / "data")
    out = tmp_path / "run"
    env = {**os.environ}
    cmd = _cmd(data, out, "--jobs", "2", "--storage", postgres_url)
    log = inject(cmd, env, out, postgres_url, faults=15, rng=random.Random(7))
    finish(cmd, env, log=log)
    check_study(postgres_url, "faults", BUDGET)
