"""Every job's events arrive here: shown as progress, and each finished candidate rewrites the result files.

One process (the run) draws progress for all its jobs and alone writes ``trials.csv``,
``front.json`` and ``config.json``, so readers never see two writers. A file that cannot be
written (a full disk) is said once and does not stop the search: the study is the record, and
the files are written from it again after each network and at the end.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import optuna

from ranksearch.config import SearchConfig
from ranksearch.errors import CannotWrite
from ranksearch.outputs import write_tables
from ranksearch.progress import Progress, fmt_seconds
from ranksearch.results import Tables, study_tables


class Monitor:
    """Every job's events arrive here: shown by ``progress``; each finished candidate rewrites the results."""

    def __init__(self, study: optuna.Study, cfg: SearchConfig, out: Path | None, progress: Progress) -> None:
        self.study, self.cfg, self.out, self.progress = study, cfg, out, progress
        self.errors: dict[int, str] = {}
        self.write_error: CannotWrite | None = None  # the result files could not be written (a full disk): said once
        self.tables: Tables | None = None
        self._first: tuple[float, int] | None = None  # (when, candidates done) at the first finished candidate

    def refresh(self) -> Tables:
        self.tables = study_tables(self.study, self.cfg, self.out)
        done = len(self.tables.candidates)
        hv = f", hypervolume {self.tables.hypervolume:.3f}" if self.tables.baseline("conv") else ""
        self.progress.budget(done, self.cfg.budget, f"front {len(self.tables.front)}{hv}")
        if self.out is not None:
            try:
                write_tables(self.tables, self.cfg, self.out)
                self.write_error = None
            except CannotWrite as e:  # the study is whole; the files are written again after the next network
                if self.write_error is None:
                    self.progress.line(f"note: cannot write {e.path} ({e.reason}); the study is whole and the search "
                                       "goes on; the result files are written again after each network and at the end")
                self.write_error = e
        return self.tables

    def _eta(self, done: int) -> str:
        """Remaining time at the rate candidates have finished in this invocation (after its first)."""
        now = time.monotonic()
        if self._first is None:
            self._first = (now, done)
            return ""
        t0, n0 = self._first
        if done <= n0 or done >= self.cfg.budget:
            return ""
        return f"  ETA {fmt_seconds((now - t0) / (done - n0) * (self.cfg.budget - done))}"

    def handle(self, ev: dict[str, Any]) -> None:
        kind = ev["kind"]
        if kind == "step":
            self.progress.step(ev)
        elif kind == "epoch":
            self.progress.step(ev)
            if not self.progress.live:
                self.progress.line(f"job {ev['job']}: {ev['who']} ({ev['params']:,} params) epoch {ev['epoch']}/{ev['epochs']} val {ev['val']:.4f}")
        elif kind == "check":
            if not self.progress.live:
                self.progress.line(f"job {ev['job']}: {ev['who']} ({ev['params']:,} params) at epoch {ev['at']:.2f}/{ev['epochs']} val {ev['val']:.4f}")
        elif kind == "required":
            self.progress.idle(ev["job"])
            self.refresh()
        elif kind == "baseline":
            self.progress.idle(ev["job"])
            self.progress.line(f"baseline {ev['family']}: {ev['params']:,} params  val {ev['val']:.4f}  test {ev['test']:.4f}  ({ev['seconds']:.0f}s)")
            self.refresh()
        elif kind == "trial":
            self.progress.idle(ev["job"])
            tables = self.refresh()
            row = next((r for r in tables.candidates if r.number == ev["number"]), None)
            if row is not None:
                what = "COMPLETE" if row.state == "COMPLETE" else f"PRUNED at epoch {row.epochs_trained:g}"
                self.progress.line(
                    f"[{len(tables.candidates):>3}/{self.cfg.budget}] trial {row.number:>3} {what:<22} {row.trainable_params:>8,} params  "
                    f"val {row.last_val_accuracy:.4f}  {row.seconds:.0f}s  front {len(tables.front)}  "
                    f"elapsed {fmt_seconds(self.progress.elapsed())}{self._eta(len(tables.candidates))}"
                )
        elif kind == "error":
            self.errors[ev["job"]] = ev["text"]
        elif kind == "line":
            self.progress.line(ev["text"])
