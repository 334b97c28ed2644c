"""Progress a person can wait on: live bars on a terminal, timestamped lines in a log.

On a terminal (tqdm): one bar for the budget (candidates done, elapsed, ETA, the front so far)
and one per running job (its candidate, epoch and step within the epoch). Piped into a file:
one timestamped line per finished epoch and per finished candidate, nothing per step. Lasting
lines go to stderr either way; results belong on stdout, which this module never touches.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import Any, TextIO

from tqdm import tqdm

from ranksearch.storage_url import masked

REDRAW_SECONDS = 0.2


class Progress:
    """Show events of one or several training processes; ``line`` for anything that lasts."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.started = time.monotonic()
        self._overall: tqdm | None = None
        self._jobs: dict[int, tqdm] = {}
        self._drawn: dict[int, tuple[float, int]] = {}  # job -> (when, epoch) last drawn

    # -- lasting output ---------------------------------------------------------------------
    def line(self, text: str) -> None:
        """A lasting line (a storage password in it shown as ***)."""
        text = masked(text)
        if self.live:
            tqdm.write(text, file=self.stream)
        else:
            self.stream.write(f"{datetime.now():%Y-%m-%d %H:%M:%S} {text}\n")
            self.stream.flush()

    # -- the budget -------------------------------------------------------------------------
    def budget(self, done: int, total: int, postfix: str = "") -> None:
        """Candidates finished of the budget; ``postfix`` says what the front is so far."""
        if not self.live:
            return
        if self._overall is None:
            self._overall = tqdm(total=total, initial=done, desc="candidates", unit="cand", position=0,
                                 file=self.stream, dynamic_ncols=True, leave=True)
        self._overall.total = total
        self._overall.n = done
        self._overall.set_postfix_str(postfix, refresh=False)
        self._overall.refresh()

    # -- one training process ----------------------------------------------------------------
    def step(self, event: dict[str, Any]) -> None:
        """A training step or an epoch of job ``event['job']``: redrawn in place on a terminal."""
        if not self.live:
            return
        now = time.monotonic()
        when, epoch = self._drawn.get(event["job"], (0.0, 0))
        if now - when < REDRAW_SECONDS and epoch == event["epoch"] and "steps" in event:
            return
        self._drawn[event["job"]] = (now, event["epoch"])
        bar = self._jobs.get(event["job"])
        if bar is None:
            bar = tqdm(total=event.get("steps") or 1, desc="", unit="step", position=1 + event["job"],
                       file=self.stream, dynamic_ncols=True, leave=False)
            self._jobs[event["job"]] = bar
        if "steps" in event:
            bar.total = event["steps"]
            bar.n = event["step"]
        val = f", val {event['val']:.4f}" if event.get("val") is not None else ""
        bar.set_description_str(
            f"job {event['job']}: {event['who']} ({event['params']:,} params) epoch {event['epoch']}/{event['epochs']}{val}",
            refresh=False,
        )
        bar.refresh()

    def idle(self, job: int) -> None:
        self._drawn.pop(job, None)
        bar = self._jobs.pop(job, None)
        if bar is not None:
            bar.close()

    def close(self) -> None:
        for job in list(self._jobs):
            self.idle(job)
        if self._overall is not None:
            self._overall.close()
            self._overall = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def fmt_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
