"""Ctrl-C and SIGTERM as one clean interruption that lands only where it is safe.

Inside ``guarded()`` (a run, a worker, a job process) SIGINT and SIGTERM are held back by
default and let through only in ``allowed()`` blocks: reading data, training, waiting. So an
interruption never lands inside a storage call (where a library could swallow it or leave a
database session half done) nor between a trial's creation and its owner's name. When it lands,
it raises ``Interrupted``, a ``KeyboardInterrupt``: SIGTERM stops a run exactly as Ctrl-C does,
its candidate failed and queued again. Storage calls made from inside an ``allowed()`` block
(a training callback) wrap themselves in ``deferred()``.
"""

from __future__ import annotations

import signal
import sys
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


_pending: list[int] = []  # a signal that came: kept until ``check()`` (or a block's end) raises it
_raised: list[bool] = []  # whether it has been raised at least once


def _held_back() -> bool:
    """Whether the main thread holds the signals back now (the handler runs in the main thread)."""
    return bool(SIGNALS & signal.pthread_sigmask(signal.SIG_BLOCK, []))


def _raise(signum: int, frame) -> None:
    # Remembered first: an exception raised inside a finalizer or a library's cleanup can be
    # swallowed ("Exception ignored in ..."); the next check() raises it again.
    if not _pending:
        _pending.append(signum)
    # A signal sent to the process reaches whichever thread does not block it (a thread torch
    # started inside allowed()), and Python then runs this handler in the main thread even while
    # the main thread holds signals back: it must not raise there, only be remembered.
    if _held_back():
        return
    _raised.append(True)
    raise Interrupted(signum)


def check() -> None:
    """Raise ``Interrupted`` if a signal came (called at safe points: every training step, every wait)."""
    if _pending:
        _raised.append(True)
        raise Interrupted(_pending[0])


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def guarded() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the block, except in ``allowed()``; both raise ``Interrupted``.

    The previous handlers and mask come back afterwards (a signal held until then is raised then).
    """
    if not _main_thread():
        yield
        return
    old_handlers = {s: signal.signal(s, _raise) for s in SIGNALS}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    old_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_if_interrupted
    _pending.clear()
    _raised.clear()
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        for s, handler in old_handlers.items():
            signal.signal(s, handler)
        sys.unraisablehook = old_hook
        held = _pending[:1] if not _raised else []
        _pending.clear()
        _raised.clear()
    if held:  # one that another thread took while the block held it back, never raised: raised now
        raise Interrupted(held[0])


def _quiet_if_interrupted(unraisable) -> None:
    """An interruption swallowed by a finalizer is not an error to print: check() raises it again."""
    if isinstance(unraisable.exc_value, Interrupted):
        return
    sys.__unraisablehook__(unraisable)


@contextmanager
def allowed() -> Iterator[None]:
    """Let SIGINT and SIGTERM through for the block (one held back until now is raised at once)."""
    if not _main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
    try:
        check()  # one remembered while held back
        yield
        check()  # one that was swallowed inside the block
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, even inside ``allowed()``."""
    if not _main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    if not SIGNALS & old:  # back inside allowed(): one that came meanwhile lands now
        check()


@contextmanager
def mask_kept() -> Iterator[None]:
    """The block cannot change this thread's signal mask: multiprocessing's resource tracker,
    started with the first spawned process, unblocks SIGINT and SIGTERM when it is done."""
    if not _main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def sigterm_as_interrupt() -> None:
    """Outside ``guarded()`` too, SIGTERM stops a command as Ctrl-C does."""
    if _main_thread():
        signal.signal(signal.SIGTERM, _raise)
