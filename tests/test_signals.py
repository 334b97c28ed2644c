"""The interruption rule itself, with real signals: held back means held back, whichever thread the kernel picks."""

import signal
import subprocess
import sys
import threading
import time

import pytest

from ranksearch import signals


def _thread_that_lets_signals_through() -> tuple[threading.Thread, threading.Event]:
    """A thread started inside allowed(), as torch starts its worker threads during training."""
    stop = threading.Event()
    with signals.allowed():
        thread = threading.Thread(target=stop.wait, daemon=True)
        thread.start()
    return thread, stop


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_through_another_thread_waits_for_the_end_of_deferred(signum):
    reached_end_of_block = False
    with signals.guarded():
        thread, stop = _thread_that_lets_signals_through()
        try:
            with pytest.raises(signals.Interrupted) as caught:
                with signals.allowed():
                    with signals.deferred():
                        signal.pthread_kill(thread.ident, signum)
                        time.sleep(0.2)  # the other thread takes the signal; Python runs the handler here
                        reached_end_of_block = True
        finally:
            stop.set()
    assert reached_end_of_block, "the signal cut the deferred block in half"
    assert caught.value.signum == signum and caught.value.exit_code == 128 + signum


def test_a_signal_held_back_outside_allowed_lands_when_allowed_begins():
    with signals.guarded():
        thread, stop = _thread_that_lets_signals_through()
        try:
            signal.pthread_kill(thread.ident, signal.SIGINT)
            time.sleep(0.2)
            landed_inside = False
            with pytest.raises(signals.Interrupted):
                with signals.allowed():
                    landed_inside = True
        finally:
            stop.set()
    assert not landed_inside


def test_a_signal_held_back_until_the_end_of_guarded_is_raised_then():
    finished = False
    with pytest.raises(signals.Interrupted):
        with signals.guarded():
            thread, stop = _thread_that_lets_signals_through()
            signal.pthread_kill(thread.ident, signal.SIGTERM)
            time.sleep(0.2)
            stop.set()
            finished = True
    assert finished
    assert signal.getsignal(signal.SIGTERM) is not signals._raise, "the previous handler is back"


SPAWN_IN_GUARDED = """
import multiprocessing as mp, signal
from ranksearch import signals

if __name__ == "__main__":
    with signals.guarded():
        before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        with signals.mask_kept():
            proc = mp.get_context("spawn").Process(target=print)  # the first: it starts the resource tracker
            proc.start()
        proc.join()
        after = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        print(sorted(int(s) for s in before), sorted(int(s) for s in after))
"""


@pytest.mark.slow
def test_mask_kept_undoes_multiprocessing_unblocking_signals(tmp_path):
    """multiprocessing's resource tracker unblocks SIGINT and SIGTERM when the first spawned process starts
    (without mask_kept the script prints "[2, 15] []"); left so, a Ctrl-C could land inside a storage call
    of the run (a SQLite read left open, the run hung). The runner starts its job processes inside mask_kept."""
    script = tmp_path / "spawn_in_guarded.py"
    script.write_text(SPAWN_IN_GUARDED)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[2, 15] [2, 15]", proc.stdout
