"""Training processes on one machine share its cores (real processes, real pid files)."""

import os
import subprocess
import sys
import time

import torch

from ranksearch import cores
from ranksearch.data import default_cache_dir

HOLDER = """
import time
from ranksearch.cores import sharing_cores
with sharing_cores():
    print("training", flush=True)
    time.sleep(60)
"""


def _other_training_process() -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # it shares, whatever this test sets
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "training"
    return proc


def test_a_second_training_process_halves_the_threads_and_leaving_gives_them_back():
    start = torch.get_num_threads()
    other = _other_training_process()
    try:
        with cores.sharing_cores() as rebalance:
            assert cores.training_processes() == 2
            assert rebalance() == max(1, start // 2) == torch.get_num_threads()
            other.kill()
            other.wait()
            time.sleep(cores.CHECK_SECONDS + 0.05)
            assert rebalance() == start
    finally:
        other.kill()
    assert torch.get_num_threads() == start
    assert cores.training_processes() == 0  # this process's pid file is gone too


def test_pid_files_of_dead_processes_are_removed():
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folder = cores._folder()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / dead.stdout.strip()).touch()
    assert cores.training_processes() == 0
    assert not any(folder.iterdir())


def test_an_explicit_omp_num_threads_is_left_alone(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    start = torch.get_num_threads()
    other = _other_training_process()
    try:
        with cores.sharing_cores() as rebalance:
            assert rebalance() == start
            assert cores.training_processes() == 1  # only the other process registered
    finally:
        other.kill()


def test_another_machines_processes_in_a_shared_cache_are_neither_counted_nor_removed():
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    shared = default_cache_dir() / "training-processes"  # a cache folder several machines share
    theirs = shared / "another-host" / dead.stdout.strip()  # its pid means nothing on this machine
    theirs.parent.mkdir(parents=True)
    theirs.touch()
    with cores.sharing_cores():
        assert cores.training_processes() == 1
    assert theirs.exists()
