"""This machine's training processes: each joins the study and runs the trial loop; dead ones are restarted.

A job is a spawned process (its own interpreter, so the user's main module is never run again)
with its share of the cores. Its events come back through a pipe to the run, which shows them
(``ranksearch.monitor``). A job that dies (killed, crashed) has its candidate failed and queued
again, and is started again (up to ``MAX_RESTARTS`` times in all); a job that meets a user
error stops them all with that error's one line.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from typing import Any, Iterator

import optuna

from lightlayers.network import check_outputs

from ranksearch import signals
from ranksearch.baselines import baseline_spec
from ranksearch.config import SearchConfig
from ranksearch.data import Splits, load_splits
from ranksearch.errors import RunFailure, UserError, storage_failure
from ranksearch.hardware import available_memory_gb, cores
from ranksearch.monitor import Monitor
from ranksearch.progress import Progress
from ranksearch.samplers import make_sampler
from ranksearch.storage import load_study
from ranksearch.trainer import resolve_device
from ranksearch.trial_loop import TrialLoop
from ranksearch.trial_queue import reap_orphans, requeue_failed

MAX_RESTARTS = 3  # jobs that die (not by Ctrl-C) are started again this many times in all
GB_PER_JOB = 1.5  # memory one training process may take (DECISIONS.md)
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
    """Each job process's share of the cores; a single job trains in this process, on its threads
    (every core, or what OMP_NUM_THREADS says)."""
    if jobs == 1:
        import torch

        return torch.get_num_threads()
    return max(1, cores() // jobs)


def quiet_optuna() -> None:
    """ranksearch shows its own progress; Optuna's log would repeat it (with tracebacks on Ctrl-C)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # SQLAlchemy logs "Error closing cursor" with a traceback when Ctrl-C lands inside a query;
    # the interruption is handled (the trial is failed and requeued), so its log says nothing new.
    logging.getLogger("sqlalchemy").addHandler(logging.NullHandler())
    logging.getLogger("sqlalchemy").propagate = False


@dataclass(frozen=True)
class JobSpec:
    """What a training process needs to join the study (picklable, sent to a new process)."""

    job: int
    storage: str
    study_name: str
    device: str
    data_dir: str | None
    threads: int
    deadline: float | None  # time.time() after which no new candidate starts
    folder: str | None  # the run folder (where a parent trained here is saved); None for a worker
    parent_pid: int = field(default_factory=os.getpid)  # the run that starts it


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start a process without it importing the caller's main module again.

    A spawned process runs ``__main__`` again (as ``__mp_main__``) to find what it was started
    with; a user's script that calls ``ranksearch.run`` at its top level, not under ``if __name__
    == "__main__"``, would then start the search again inside every job. A job needs nothing of
    the main module (its target lives in this module), so the main module's name and file are
    hidden from multiprocessing while it starts.
    """
    main = sys.modules["__main__"]
    saved = {name: main.__dict__[name] for name in ("__spec__", "__file__") if name in main.__dict__}
    main.__dict__["__spec__"] = None
    main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _die_with_parent(parent_pid: int) -> None:
    """Linux: this process gets SIGTERM when the run that started it dies, even by kill -9; and it stops at
    once when that run died while it was starting (before it could ask for the signal)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:
        os._exit(143)


def _job_main(spec: JobSpec, conn: Connection) -> None:
    """The body of a job process: join the study, train its baselines, then candidates."""
    _die_with_parent(spec.parent_pid)
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
            loop = _join(spec, emit)
            emit({"kind": "done", "job": spec.job, "reason": loop.work(spec.deadline)})
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


def _join(spec: JobSpec, emit) -> TrialLoop:
    study, cfg = load_study(spec.storage, spec.study_name)
    study.sampler = make_sampler(cfg.sampler, None)  # each job its own random stream
    cfg = replace(cfg, device=spec.device)
    if spec.data_dir:
        cfg = replace(cfg, data=replace(cfg.data, data_dir=spec.data_dir))
    return TrialLoop(study, cfg, read_data(cfg), emit, spec.job, spec.folder)


def read_data(cfg: SearchConfig, progress: Progress | None = None) -> Splits:
    """The splits of ``cfg.data``, refused in one line if they do not fit the reference network."""
    with signals.allowed():  # decoding a dataset can take a while: Ctrl-C may stop it
        data, splits = load_splits(cfg.data, (lambda s: progress.line(f"data {cfg.data.dataset}: {s}")) if progress is not None else None)
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
        with signals.mask_kept(), _main_module_hidden():
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
    except BaseException:  # the run itself failed (its storage, its files): no job trains on without it
        _stop(running)
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
