"""Ctrl-C and SIGTERM as one clean interruption, never landing where it would lose a trial.

SIGTERM raises the same ``KeyboardInterrupt`` as Ctrl-C, so a terminated run fails and requeues
its candidate exactly as an interrupted one does. ``deferred()`` holds both signals back while
a trial is created and claimed (or finished and recorded), so no interruption leaves a trial
RUNNING that no process owns.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

SIGNALS = {signal.SIGINT, signal.SIGTERM}


class Interrupted(KeyboardInterrupt):
    """A KeyboardInterrupt that remembers which signal caused it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise(signum: int, frame) -> None:
    raise Interrupted(signum)


def install() -> None:
    """SIGINT and SIGTERM raise ``Interrupted`` in the main thread."""
    for s in SIGNALS:
        signal.signal(s, _raise)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends; a signal that came meanwhile is raised then."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
