"""Every bad input of tests/bad_inputs.py: one clear line, the right exit code, no traceback, nothing created."""

import os

import pytest

from bad_inputs import CASES, SECRET, make_world
from conftest import ranksearch

pytestmark = pytest.mark.slow  # the command line in a subprocess for every case


def snapshot(root):
    """Every file under ``root`` with its size and modification time."""
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    env = {**os.environ, "RANKSEARCH_CACHE": str(cache)}
    return make_world(tmp_path_factory.mktemp("world"), env), env


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(world, case):
    w, env = world
    args = case.args(w)  # may create the input itself (a damaged copy of the run, a bad config)
    before = snapshot(w.root)
    proc = ranksearch(*args, env=env)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == case.code, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1 and case.needle in errors[0], proc.stderr
    assert lines[-1] == errors[0], "the error is the last word"
    assert SECRET not in proc.stderr + proc.stdout, "a storage password was printed"
    after = snapshot(w.root)
    made = w.root / case.makes if case.makes else None
    assert {p for p in after if p not in before and not (made and made in p.parents)} == set(), "a failed command created files"
    assert {p for p in before if before[p] != after.get(p)} == set(), "a failed command changed files"
    assert not any(SECRET.encode() in p.read_bytes() for p in after), "a storage password was written down"
