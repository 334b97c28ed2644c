"""The interruption rule itself, with real signals: held back means held back, whichever thread the kernel picks."""

import signal
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
