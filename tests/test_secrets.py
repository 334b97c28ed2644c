"""A storage password is never shown or written down: masked in every line, left out of every file;
a stored URL connects with PGPASSWORD or ~/.pgpass, as libpq users expect."""

import json
import os

import optuna
import pytest

from conftest import POSTGRES_PASSWORD, quick_search_config, ranksearch
from ranksearch import records
from ranksearch.api import search_config
from ranksearch.errors import RunFailure, UserError
from ranksearch.storage_url import masked, without_password

URL = "postgresql://user:s3cretPW@db.example.org:5432/studies"


@pytest.mark.parametrize("url,shown,kept", [
    (URL, "postgresql://user:***@db.example.org:5432/studies", "postgresql://user@db.example.org:5432/studies"),
    ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db", "postgresql://u@h/db"),  # an @ in the password
    ("postgresql://h/db?sslmode=require&password=s3cret", "postgresql://h/db?sslmode=require&password=***",
     "postgresql://h/db?sslmode=require"),
    ("postgresql://user@h:5432/db", "postgresql://user@h:5432/db", "postgresql://user@h:5432/db"),
    ("sqlite:////tmp/run/study.db", "sqlite:////tmp/run/study.db", "sqlite:////tmp/run/study.db"),
])
def test_urls_are_shown_masked_and_kept_without_their_password(url, shown, kept):
    assert masked(url) == shown and without_password(url) == kept


def test_every_error_message_is_masked():
    for kind in (UserError, RunFailure):
        assert "s3cretPW" not in str(kind(f"cannot open storage {URL}: refused")) and "user:***@" in str(kind(URL))


def test_the_saved_configuration_keeps_the_url_without_its_password(tmp_path):
    cfg = search_config(dataset="mnist", budget=2, storage=URL)
    assert cfg.storage == URL  # this process connects with it ...
    assert cfg.to_dict()["storage"] == "postgresql://user@db.example.org:5432/studies"  # ... and never writes it down


@pytest.mark.slow
def test_a_run_with_a_password_prints_and_writes_none(mnist_like, tmp_path, postgres_password_url):
    with_password = postgres_password_url.replace("postgres@", f"postgres:{POSTGRES_PASSWORD}@")
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    config = quick_search_config(tmp_path / "study.json", mnist_like)
    proc = ranksearch("run", "--config", str(config), "--storage", with_password, "--study", "secret", "--out", str(out),
                      "--jobs", "1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert POSTGRES_PASSWORD not in proc.stdout + proc.stderr
    assert "postgres:***@" in proc.stderr  # the progress line names the storage, masked
    for path in out.rglob("*"):
        assert POSTGRES_PASSWORD.encode() not in path.read_bytes(), f"the password is in {path}"
    study = optuna.load_study(study_name="secret", storage=with_password)
    saved = records.saved_config(study)
    assert POSTGRES_PASSWORD not in json.dumps(saved) and saved["storage"] == postgres_password_url

    # The folder's URL has no password: libpq takes it from PGPASSWORD ...
    proc = ranksearch("report", str(out), env={**env, "PGPASSWORD": POSTGRES_PASSWORD})
    assert proc.returncode == 0, proc.stderr
    # ... and without one the server refuses, in one line.
    proc = ranksearch("report", str(out), env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "PGPASSWORD" in proc.stderr

    # A wrong password: one line, exit 1, the password nowhere, nothing created.
    wrong = "Wr0ngPassw0rd"
    with_wrong = postgres_password_url.replace("postgres@", f"postgres:{wrong}@")
    for args in (["run", "--config", str(config), "--storage", with_wrong, "--study", "secret", "--out", str(tmp_path / "r2")],
                 ["worker", "--storage", with_wrong, "--study", "secret"],
                 ["report", "--storage", with_wrong, "--study", "secret", "--out", str(tmp_path / "r3")]):
        proc = ranksearch(*args, env=env)
        assert proc.returncode == 1, proc.stderr
        assert wrong not in proc.stdout + proc.stderr and "postgres:***@" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "password authentication failed" in proc.stderr
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()
