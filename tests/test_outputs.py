"""Outputs are whole or as they were: a write interrupted at any moment, or refused by a full disk,
leaves the previous file intact, one line and the right exit code; its temporary is removed later."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import quick_search_config, ranksearch, write_mnist_like
from ranksearch.errors import CannotWrite
from ranksearch.outputs import TEMP_MARK, remove_stale_temporaries, write_atomic


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(f".*{TEMP_MARK}*"))


# -- in-process -------------------------------------------------------------------------------
def test_a_full_disk_is_exit_1_and_a_refusing_folder_exit_2():
    full = CannotWrite("x/report.html", OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    assert full.exit_code == 1 and "No space left on device" in str(full) and "free space" in str(full)
    refused = CannotWrite("x/report.html", OSError(errno.EACCES, os.strerror(errno.EACCES)))
    assert refused.exit_code == 2 and "choose a folder you can write to" in str(refused)


def test_a_write_that_fails_leaves_no_file_and_says_so_in_one_line(tmp_path):
    with pytest.raises(CannotWrite, match="cannot write") as caught:
        write_atomic(tmp_path / "missing" / "summary.json", "{}")
    assert "\n" not in str(caught.value)
    assert list(tmp_path.rglob("*")) == []


def test_stale_temporaries_are_removed_unless_their_process_runs(tmp_path):
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        stale = tmp_path / f".trials.csv{TEMP_MARK}{int(dead.stdout)}"
        running = tmp_path / f".front.json{TEMP_MARK}{alive.pid}"
        for p in (stale, running):
            p.write_text("half a fi")
        assert remove_stale_temporaries(tmp_path) == [stale]
        assert running.exists() and not stale.exists()
        stale.write_text("half a fi")
        write_atomic(tmp_path / "trials.csv", "number\n1\n")  # the next writer of the file tidies its leftovers
        assert not stale.exists() and running.exists()
    finally:
        alive.kill()
        alive.wait()


# -- a real process killed with SIGKILL at the moment of a write (strace) ---------------------
def _stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def run_killed_at(args: list[str], moment: str, target: Path, env: dict) -> tuple[subprocess.CompletedProcess, int]:
    """Run ``ranksearch ARGS``, killed (SIGKILL) by strace at ``moment``: "write", its first write to the
    temporary of ``target``; "rename", the rename of that temporary onto ``target``. Returns it and its pid."""
    if shutil.which("strace") is None:
        pytest.skip("strace not installed (apt-get install strace)")
    # The process stops itself before it becomes ranksearch (exec keeps its pid), so the temporary's
    # name, which holds the pid, is known before strace attaches.
    proc = subprocess.Popen([sys.executable, "-c", "import os, signal, sys; os.kill(os.getpid(), signal.SIGSTOP); "
                             "os.execv(sys.executable, [sys.executable, '-m', 'ranksearch', *sys.argv[1:]])", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not _stopped(proc.pid):
        assert time.monotonic() < deadline, "the process did not stop itself"
        time.sleep(0.01)
    calls = "write,pwrite64,writev" if moment == "write" else "rename,renameat,renameat2"
    temporary = target.with_name(f".{target.name}{TEMP_MARK}{proc.pid}")  # strace -P matches a rename by its source
    tracer = subprocess.Popen(["strace", "-p", str(proc.pid), "-o", "/dev/null", "-e", f"trace={calls}",
                               "-e", f"inject={calls}:signal=SIGKILL", "-P", str(temporary.resolve())],
                              stderr=subprocess.PIPE, text=True)
    attached = tracer.stderr.readline()
    if "attached" not in attached:
        proc.kill()
        pytest.skip(f"strace cannot attach here (ptrace not permitted?): {attached.strip()}")
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    tracer.wait(timeout=30)
    return subprocess.CompletedProcess(args, proc.returncode, out, err), proc.pid


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished small run, a report of it in a folder of its own, and an exported point: the files to tear."""
    root = tmp_path_factory.mktemp("outputs")
    env = {**os.environ, "RANKSEARCH_CACHE": str(root / "cache")}
    data = write_mnist_like(root / "data", n_train=300, n_test=50)
    run = root / "run"
    proc = ranksearch("run", "--config", str(quick_search_config(root / "study.json", data)), "--out", str(run),
                      "--jobs", "1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert ranksearch("report", str(run), "--out", str(root / "elsewhere"), env=env).returncode == 0
    assert ranksearch("export", str(run), "--max-params", "10000000", "-o", str(root / "point.json"), env=env).returncode == 0
    return root, env


# command -> the files it writes (that existed before): each is torn at each moment.
WRITES = [
    (lambda r: ["report", str(r / "run")], "run", ["summary.json", "report.html"]),
    (lambda r: ["report", str(r / "run"), "--out", str(r / "elsewhere")], "elsewhere",
     ["trials.csv", "front.json", "config.json", "summary.json", "report.html"]),
    (lambda r: ["export", str(r / "run"), "--max-params", "10000000", "-o", str(r / "point.json")], ".", ["point.json"]),
    (lambda r: ["train", "--config", str(r / "point.json"), "--epochs", "1", "--save", str(r / "point.pt")], ".", ["point.pt"]),
]
CASES = [(i, name, moment) for i, (_, _, names) in enumerate(WRITES) for name in names for moment in ("write", "rename")]


@pytest.mark.slow
@pytest.mark.parametrize("i,name,moment", CASES, ids=[f"{WRITES[i][0](Path('R'))[0]}-{WRITES[i][1]}-{n}-at-{m}" for i, n, m in CASES])
def test_a_write_killed_at_any_moment_leaves_the_previous_file(finished, i, name, moment):
    root, env = finished
    make_args, sub, _ = WRITES[i]
    folder = (root / sub).resolve()
    target = folder / name
    if not target.exists():  # train --save: the first file comes from a run that is not interrupted
        assert ranksearch(*make_args(root), env=env).returncode == 0
    before = target.read_bytes()
    proc, pid = run_killed_at(make_args(root), moment, target, env)
    assert proc.returncode == -signal.SIGKILL, f"not killed at the {moment} of {name}: {proc.stderr[-2000:]}"
    assert target.read_bytes() == before, f"{name} changed by a write killed at its {moment}"
    assert temporaries(folder) == [folder / f".{name}{TEMP_MARK}{pid}"]  # the killed writer's temporary is left ...
    again = ranksearch(*make_args(root), env=env)  # ... until the same command runs again
    assert again.returncode == 0, again.stderr
    assert temporaries(folder) == [], "a killed writer's temporary was left behind"
    if name.endswith(".json"):
        json.loads(target.read_text())
    elif name.endswith(".csv"):
        pd.read_csv(target)


# -- a full disk at the end of a run ------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB file system (tmpfs), mounted for the test: too small for a report (plotly.js inside)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3M", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.slow
def test_a_full_disk_at_the_end_of_a_run_prints_the_front_and_leaves_no_partial_file(tmp_path, small_disk, mnist_like):
    out = small_disk / "run"
    proc = ranksearch("run", "--config", str(quick_search_config(tmp_path / "study.json", mnist_like)), "--out", str(out),
                      "--jobs", "1")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0] == proc.stderr.strip().splitlines()[-1], proc.stderr
    assert "report.html: No space left on device" in errors[0] and "free space" in errors[0]
    assert "front of" in proc.stdout and "Verdict for" in proc.stdout, "the results were not printed before the files"
    assert not (out / "report.html").exists() and temporaries(out) == []
    pd.read_csv(out / "trials.csv")
    for name in ("front.json", "config.json", "summary.json"):
        json.loads((out / name).read_text())

    # The disk quite full: an export over an earlier point and a report keep the earlier files whole.
    point = out / "point.json"
    point.write_text('{"earlier": true}\n')
    summary = (out / "summary.json").read_bytes()
    with open(small_disk / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    for args, kept, before in ((["export", str(out), "--max-params", "10000000", "-o", str(point)], point, b'{"earlier": true}\n'),
                               (["report", str(out)], out / "summary.json", summary)):
        proc = ranksearch(*args)
        assert proc.returncode == 1 and "No space left on device" in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert kept.read_bytes() == before and temporaries(out) == []

    # A trained network's file (torch and ONNX serialise it; we write the bytes): one line too, no partial file.
    (small_disk / "filler").unlink()
    with open(small_disk / "filler", "wb") as fh:  # leave 16 KB: the networks trained below need more
        fh.write(b"\0" * (shutil.disk_usage(small_disk).free - 16384))
    for fmt, name in (("checkpoint", "m.pt"), ("torchscript", "m.ts"), ("onnx", "m.onnx")):
        proc = ranksearch("export", str(out), "--max-params", "10000000", "--format", fmt, "-o", str(small_disk / name))
        errors = [line for line in proc.stderr.splitlines() if "error:" in line]
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, (fmt, proc.stderr)
        assert len(errors) == 1 and "No space left on device" in errors[0], (fmt, proc.stderr)
        assert not (small_disk / name).exists() and temporaries(small_disk) == []
