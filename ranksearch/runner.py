"""Run a search on this machine: prepare the study, start the training jobs, show them, write results.

``run_search`` is ``ranksearch run``: it checks everything it can before training (data,
storage, the run folder), opens or creates the study, queues the paper's models, and starts
``jobs`` training processes that share the study, each with its share of the cores (one job
runs in this process). Every job's events come back here: this process alone draws progress
and rewrites ``trials.csv`` and ``front.json`` after each finished candidate. Ctrl-C or SIGTERM
stops every job; each fails its candidate, which is queued again, so a rerun of the same command
finishes the budget. ``run_worker`` is ``ranksearch worker``: the same jobs joining a study by
storage URL, without baselines or a run folder.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import optuna

from lightlayers.network import check_outputs

from ranksearch import signals
from ranksearch.config import SearchConfig
from ranksearch.data import Splits, load_splits
from ranksearch.errors import RunFailure, UserError, storage_failure
from ranksearch.hardware import available_memory_gb, cores
from ranksearch.progress import Progress, fmt_seconds
from ranksearch.results import BASELINE_FAMILIES, WALL_ATTR, Tables, study_tables, write_outputs
from ranksearch.samplers import make_sampler
from ranksearch.search import Search, baseline_spec, reap_orphans, requeue_failed
from ranksearch.storage import embedded_url, load_study, open_storage, open_study
from ranksearch.trainer import resolve_device

MAX_RESTARTS = 3  # jobs that die (not by Ctrl-C) are started again this many times in all
GB_PER_JOB = 1.5  # peak RSS of one CIFAR-10 training process, rounded up (studies/benchmarks/RESULTS.md)
WAIT_LINE_SECONDS = 30.0


def resolve_jobs(jobs: int | str, device: str, budget: int) -> int:
    """``auto``: one job per core on a CPU (as memory allows, at most 8), one on a GPU."""
    if jobs == "auto":
        if resolve_device(device).type == "cuda":
            return 1
        memory = available_memory_gb()
        n = min(cores(), 8, int(memory // GB_PER_JOB) if memory else 8)
    else:
        n = int(jobs)
        if n < 1:
            raise UserError(f"--jobs must be auto or an integer >= 1, got {jobs}")
    return max(1, min(n, budget))


def threads_per_job(jobs: int) -> int:
    return max(1, cores() // jobs)


def quiet_optuna() -> None:
    """ranksearch shows its own progress; Optuna's log would repeat it (with tracebacks on Ctrl-C)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # SQLAlchemy logs "Error closing cursor" with a traceback when Ctrl-C lands inside a query;
    # the interruption is handled (the trial is failed and requeued), so its log says nothing new.
    logging.getLogger("sqlalchemy").addHandler(logging.NullHandler())
    logging.getLogger("sqlalchemy").propagate = False


# -- what the jobs send back ------------------------------------------------------------------
class Monitor:
    """Every job's events arrive here: shown by ``progress``; each finished candidate rewrites the results."""

    def __init__(self, study: optuna.Study, cfg: SearchConfig, out: Path | None, progress: Progress) -> None:
        self.study, self.cfg, self.out, self.progress = study, cfg, out, progress
        self.errors: dict[int, str] = {}
        self.tables: Tables | None = None
        self._first: tuple[float, int] | None = None  # (when, candidates done) at the first finished candidate

    def refresh(self) -> Tables:
        self.tables = study_tables(self.study, self.cfg)
        done = len(self.tables.candidates)
        hv = f", hypervolume {self.tables.hypervolume:.3f}" if self.tables.baseline("conv") else ""
        self.progress.budget(done, self.cfg.budget, f"front {len(self.tables.front)}{hv}")
        if self.out is not None:
            write_outputs(self.tables, self.cfg, self.out)
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


# -- one job in its own process ---------------------------------------------------------------
@dataclass(frozen=True)
class JobSpec:
    """What a training process needs to join the study (picklable, sent to a new process)."""

    job: int
    storage: str
    study_name: str
    device: str
    data_dir: str | None
    threads: int
    baselines: tuple[str, ...]
    deadline: float | None  # time.time() after which no new candidate starts


def _die_with_parent() -> None:
    """Linux: this process gets SIGTERM when the run that started it dies, even by kill -9."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _job_main(spec: JobSpec, conn: Connection) -> None:
    """The body of a job process: join the study, train its baselines, then candidates."""
    _die_with_parent()
    quiet_optuna()
    import torch

    torch.set_num_threads(spec.threads)

    def emit(ev: dict[str, Any]) -> None:
        try:
            conn.send(ev)
        except OSError:  # the run that started this job is gone: stop as if told to
            raise signals.Interrupted(signal.SIGTERM) from None

    code = 0
    try:
        with signals.guarded():
            search = _join(spec, emit)
            search.train_baselines(spec.baselines)
            emit({"kind": "done", "job": spec.job, "reason": search.work(spec.deadline)})
    except signals.Interrupted as e:
        code = e.exit_code
    except KeyboardInterrupt:
        code = 130
    except UserError as e:
        code = _tell_error(conn, spec.job, e)
    except Exception as e:
        failure = storage_failure(e)
        if failure is None:
            raise
        code = _tell_error(conn, spec.job, failure)
    finally:
        conn.close()
    os._exit(code)  # skip interpreter teardown: nothing of this process is needed any more


def _tell_error(conn: Connection, job: int, error: UserError | RunFailure) -> int:
    """Send the run a job's one-line error; if the run is gone (being stopped), stop quietly."""
    try:
        conn.send({"kind": "error", "job": job, "text": str(error)})
    except OSError:
        return 143
    return error.exit_code


def _join(spec: JobSpec, emit) -> Search:
    study, cfg = load_study(spec.storage, spec.study_name)
    study.sampler = make_sampler(cfg.sampler, None)  # each job its own random stream
    cfg = replace(cfg, device=spec.device)
    if spec.data_dir:
        cfg = replace(cfg, data=replace(cfg.data, data_dir=spec.data_dir))
    return Search(study, cfg, read_data(cfg), emit, spec.job)


def read_data(cfg: SearchConfig, progress: Progress | None = None) -> Splits:
    """The splits of ``cfg.data``, refused in one line if they do not fit the reference network."""
    with signals.allowed():  # decoding a dataset can take a while: Ctrl-C may stop it
        data, splits = load_splits(cfg.data)
    for note in data.notes if progress is not None else ():
        progress.line(f"data {cfg.data.dataset}: {note}")
    try:
        spec = baseline_spec(cfg, splits, "conv")
        if cfg.model is not None:  # the user's network: it imports, takes these images, and its weights fit
            check_outputs(spec)
            spec.base()
    except ValueError as e:
        raise UserError(str(e) if cfg.model is not None else f"data {cfg.data.dataset} does not fit the reference network: {e}") from None
    return splits


# -- several jobs -----------------------------------------------------------------------------
@dataclass
class _Job:
    spec: JobSpec
    proc: Any
    conn: Connection


def run_jobs(study: optuna.Study, monitor: Monitor, specs: list[JobSpec]) -> list[str]:
    """Run each job in its own process until all stop; return why each stopped.

    A job that dies (killed, crashed) has its candidate failed and queued again, and is started
    again (up to ``MAX_RESTARTS`` times in all); a job that meets a user error stops them all.
    """
    ctx = mp.get_context("spawn")
    running: dict[int, _Job] = {}
    reasons: list[str] = []
    restarts = 0

    def start(spec: JobSpec) -> None:
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_job_main, args=(spec, send), name=f"ranksearch-job-{spec.job}")
        with signals.mask_kept():
            proc.start()
        send.close()
        running[spec.job] = _Job(spec, proc, receive)

    def ended(job: _Job) -> None:
        nonlocal restarts
        job.proc.join()
        job.conn.close()
        del running[job.spec.job]
        monitor.progress.idle(job.spec.job)
        code = job.proc.exitcode
        if code == 0:
            return
        if job.spec.job in monitor.errors:  # a user error or a failed storage: starting again would not help
            _stop(running)
            raise (UserError if code == 2 else RunFailure)(monitor.errors[job.spec.job])
        reap_orphans(study)
        requeue_failed(study)
        if restarts >= MAX_RESTARTS:
            _stop(running)
            raise RunFailure(f"training jobs died {restarts + 1} times (last exit code {code}); "
                             "the study is intact, rerun the same command to continue")
        restarts += 1
        monitor.progress.line(f"job {job.spec.job} died (exit code {code}); its candidate is queued again; starting it again")
        start(job.spec)

    try:
        for spec in specs:
            start(spec)
        while running:
            with signals.allowed():
                ready = wait([j.conn for j in running.values()], timeout=0.5)
            for job in [j for j in list(running.values()) if j.conn in ready]:
                try:
                    ev = job.conn.recv()
                except (EOFError, OSError):  # the process closed its end: it has ended
                    ended(job)
                    continue
                if ev["kind"] == "done":
                    reasons.append(ev["reason"])
                else:
                    monitor.handle(ev)
    except KeyboardInterrupt:
        _stop(running)
        reap_orphans(study)
        requeue_failed(study)
        raise
    return reasons


def _stop(running: dict[int, _Job]) -> None:
    """Ask every job to stop (SIGTERM, handled as Ctrl-C); kill those that do not within a minute."""
    for job in running.values():
        if job.proc.is_alive():
            os.kill(job.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    for job in running.values():
        job.proc.join(max(0.1, deadline - time.monotonic()))
        if job.proc.is_alive():
            job.proc.kill()
            job.proc.join()
        job.conn.close()
    running.clear()


# -- a search, start to end -------------------------------------------------------------------
@dataclass
class SearchOutcome:
    """What a finished (or stopped) search leaves: why it stopped, its tables, and where."""

    reason: str
    tables: Tables
    study: optuna.Study
    config: SearchConfig
    out: Path | None
    seconds: float


def _train(study, cfg, url, monitor, splits: Splits | None, jobs: int, baselines: tuple[str, ...],
           device: str, data_dir: str | None, deadline: float | None) -> list[str]:
    """One round of training: ``jobs`` processes, or this one when ``jobs`` is 1."""
    if jobs == 1:
        if splits is None:
            splits = read_data(cfg)
        search = Search(study, cfg, splits, monitor.handle)
        search.train_baselines(baselines)
        return [search.work(deadline)]
    specs = [
        JobSpec(j, url, cfg.study_name, device, data_dir, threads_per_job(jobs), baselines[j::jobs], deadline)
        for j in range(jobs)
    ]
    return run_jobs(study, monitor, specs)


def _finish(study, cfg, url, monitor, splits, jobs, baselines, device, data_dir, deadline) -> str:
    """Train until the budget is finished, waiting (with a bound) for trials of other machines."""
    reason = "budget reached"
    last_wait_line = 0.0
    while True:
        signals.check()
        reap_orphans(study)
        requeue_failed(study)
        tables = study_tables(study, cfg)
        running = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
                   if "duplicate_of" not in t.user_attrs and "surplus" not in t.user_attrs]
        missing = [f for f in baselines if f"baseline:{f}" not in study.user_attrs]
        if len(tables.candidates) >= cfg.budget and not missing:
            return reason
        if deadline is not None and time.time() > deadline:
            return "timeout"
        if len(tables.candidates) + len(running) < cfg.budget or missing:
            reasons = _train(study, cfg, url, monitor, splits, jobs, tuple(missing), device, data_dir, deadline)
            final = [r for r in reasons if r.startswith(("timeout", "search space exhausted"))]
            if final:
                return final[0]
            if len(study_tables(study, cfg).candidates) == len(tables.candidates) and not reasons:
                raise RunFailure("the training jobs stopped without finishing a candidate; rerun to continue")
            continue
        # The rest of the budget is being trained by processes on other machines: wait for them.
        # Their heartbeats bound the wait: a dead one's trial is failed and queued within the grace period.
        if time.monotonic() - last_wait_line > WAIT_LINE_SECONDS:
            last_wait_line = time.monotonic()
            who = ", ".join(f"trial {t.number} ({t.user_attrs.get('worker', '?')})" for t in running)
            monitor.progress.line(f"waiting for {who}: running in other processes; a dead one is retried within 90 s")
        with signals.allowed():
            time.sleep(2.0)


def prepare_folder(out: Path) -> bool:
    """Refuse a run folder that is a file or cannot be written; return whether it already existed."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: a file is in the way; give a folder")
    existed = out.is_dir()
    parent = out if existed else next((p for p in out.resolve().parents if p.exists()), Path("/"))
    if not os.access(parent, os.W_OK):
        raise UserError(f"--out {out}: {parent} is not writable; choose another folder")
    return existed


def run_search(cfg: SearchConfig, out: str | Path, progress: Progress, jobs: int | str = 1) -> SearchOutcome:
    """Run (or continue) the search ``cfg`` describes, writing its results into ``out``.

    Ctrl-C or SIGTERM raises ``KeyboardInterrupt`` once every job has stopped and failed its
    candidate; the study is whole and the same call continues it.
    """
    with signals.guarded():
        return _run_search(cfg, Path(out), progress, jobs)


def _run_search(cfg: SearchConfig, out: Path, progress: Progress, jobs: int | str) -> SearchOutcome:
    quiet_optuna()
    started = time.monotonic()
    deadline = time.time() + cfg.timeout if cfg.timeout is not None else None
    n_jobs = resolve_jobs(jobs, cfg.device, cfg.budget)
    existed = prepare_folder(out)
    url = cfg.storage or embedded_url(out)
    if cfg.storage is not None:
        open_storage(url)  # an unreachable storage is refused before the data is read
    t0 = time.perf_counter()
    splits = read_data(cfg, progress)  # a bad dataset is refused before the storage is touched
    progress.line(f"data {cfg.data.dataset}: {len(splits.train_y):,} train / {len(splits.val_y):,} val / "
                  f"{len(splits.test_y):,} test images ({time.perf_counter() - t0:.1f}s)")
    out.mkdir(parents=True, exist_ok=True)
    try:
        study = open_study(cfg, url, cfg.seed, create=True)
    except UserError:
        if not existed:
            _remove_empty(out)
        raise
    monitor = Monitor(study, cfg, out, progress)
    search = Search(study, cfg, splits, monitor.handle)
    search.enqueue_paper_models()
    done = len(monitor.refresh().candidates)
    progress.line(
        f"study {cfg.study_name} in {url}: {done}/{cfg.budget} candidates finished; space {cfg.family}, "
        f"{cfg.recipe.epochs} epochs, {cfg.recipe.precision}, sampler {cfg.sampler}, pruner {cfg.pruner}, "
        f"{n_jobs} job{'s' if n_jobs > 1 else ''} x {threads_per_job(n_jobs) if n_jobs > 1 else cores()} threads"
    )
    try:
        reason = _finish(study, cfg, url, monitor, splits if n_jobs == 1 else None, n_jobs, BASELINE_FAMILIES,
                         cfg.device, cfg.data.data_dir, deadline)
    finally:
        # Wall time adds up over the invocations that made the study (a rerun after Ctrl-C continues it).
        study.set_user_attr(WALL_ATTR, float(study.user_attrs.get(WALL_ATTR, 0.0)) + time.monotonic() - started)
        tables = monitor.refresh()
        progress.close()
    return SearchOutcome(reason, tables, study, cfg, out, time.monotonic() - started)


def _remove_empty(out: Path) -> None:
    """Take back a run folder this command created, if the refused storage left nothing in it."""
    db = out / "study.db"
    if db.exists() and db.stat().st_size == 0:
        db.unlink()
    try:
        out.rmdir()
    except OSError:
        pass


def run_worker(storage: str, study_name: str, progress: Progress, *, device: str = "auto",
               data_dir: str | None = None, jobs: int | str = 1) -> str:
    """Join the study ``study_name`` in ``storage`` and train candidates until its budget is reached."""
    with signals.guarded():
        return _run_worker(storage, study_name, progress, device, data_dir, jobs)


def _run_worker(storage: str, study_name: str, progress: Progress, device: str, data_dir: str | None, jobs: int | str) -> str:
    quiet_optuna()
    study, cfg = load_study(storage, study_name)
    study.sampler = make_sampler(cfg.sampler, None)
    cfg = replace(cfg, device=device)
    n_jobs = resolve_jobs(jobs, device, cfg.budget)
    monitor = Monitor(study, cfg, None, progress)
    splits = None
    if data_dir:
        cfg = replace(cfg, data=replace(cfg.data, data_dir=data_dir))
    if n_jobs == 1:
        splits = read_data(cfg)
    progress.line(f"worker {os.getpid()} joined study {cfg.study_name}: {len(monitor.refresh().candidates)}/{cfg.budget} "
                  f"finished; {n_jobs} job{'s' if n_jobs > 1 else ''}")
    try:
        reasons = _train(study, cfg, storage, monitor, splits, n_jobs, (), device, data_dir, None)
    finally:
        progress.close()
    return reasons[0] if reasons else "budget reached"
