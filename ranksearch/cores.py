"""Share this machine's cores among the ranksearch processes training on it.

PyTorch gives every process all the cores. Two processes training at once then wait on each
other's threads: on a 2-core VM two trainings side by side ran 50-580 images/s each, against
2,200-2,600 for one alone and 2,000-2,200 each with one thread apiece
(studies/benchmarks/RESULTS.md). So each process leaves a pid file in a folder while it trains
and, looking again every ``CHECK_SECONDS``, takes its share: the threads it started with,
divided by the live training processes. A run, its workers on the same machine and a
``ranksearch train`` beside them share without being told. An explicit ``OMP_NUM_THREADS``
is the user's choice and is left alone.
"""

from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch

from ranksearch.data import default_cache_dir

CHECK_SECONDS = 0.25


def _folder() -> Path:
    """Per host: a home folder shared by several machines must not mix their processes."""
    return default_cache_dir() / "training-processes" / socket.gethostname()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def training_processes() -> int:
    """Processes training on this machine now (pid files of live processes; stale ones removed)."""
    live = 0
    for f in _folder().glob("*"):
        if f.name.isdigit() and _alive(int(f.name)):
            live += 1
        else:
            f.unlink(missing_ok=True)
    return live


@contextmanager
def sharing_cores() -> Iterator[Callable[[], int]]:
    """Count this process as training while inside; yield ``rebalance() -> threads now``.

    ``rebalance`` is cheap enough to call every training step: it looks at the folder at most
    once every ``CHECK_SECONDS``.
    """
    start_threads = torch.get_num_threads()
    if "OMP_NUM_THREADS" in os.environ:
        yield torch.get_num_threads
        return
    mine = _folder() / str(os.getpid())
    try:
        mine.parent.mkdir(parents=True, exist_ok=True)
        mine.touch()
    except OSError:  # no writable cache: train with the threads we have
        yield torch.get_num_threads
        return

    next_check = 0.0

    def rebalance() -> int:
        nonlocal next_check
        now = time.monotonic()
        if now >= next_check:
            next_check = now + CHECK_SECONDS
            threads = max(1, start_threads // max(1, training_processes()))
            if threads != torch.get_num_threads():
                torch.set_num_threads(threads)
        return torch.get_num_threads()

    try:
        yield rebalance
    finally:
        mine.unlink(missing_ok=True)
        torch.set_num_threads(start_threads)
