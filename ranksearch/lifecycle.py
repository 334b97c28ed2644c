"""A search on this machine, start to end: ``ranksearch run`` and ``ranksearch worker``.

``run_search`` checks everything it can before training (data, storage, the run folder), opens
or creates the study, queues the paper's models, and starts ``jobs`` training processes that
share the study (one job runs in this process). Ctrl-C or SIGTERM stops every job; each fails
its candidate, which is queued again, so a rerun of the same command finishes the budget.
``run_worker`` is the same jobs joining a study by storage URL, without baselines or a run folder.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import optuna

from ranksearch import records, signals, storage
from ranksearch.atomic import make_folder
from ranksearch.baselines import baseline_spec, required_networks
from ranksearch.confirm import confirmations
from ranksearch.config import SearchConfig
from ranksearch.data import Splits
from ranksearch.errors import RunFailure, UserError
from ranksearch.labels import epochs
from ranksearch.jobs import JobSpec, quiet_optuna, read_data, resolve_jobs, run_jobs, threads_per_job
from ranksearch.monitor import Monitor
from ranksearch.objectives import check_measurable
from ranksearch.progress import Progress
from ranksearch.results import Tables, study_tables
from ranksearch.samplers import make_sampler
from ranksearch.starts import queue_paper_models
from ranksearch.outputs import remove_stale_temporaries
from ranksearch.storage import check_folder_study, embedded_url, load_study, open_storage, open_study
from ranksearch.trial_loop import TrialLoop
from ranksearch.trial_queue import reap_orphans, requeue_failed
from ranksearch.verdict import verdict

WAIT_LINE_SECONDS = 30.0
CONFIRM_ROUNDS = 3
MAX_FRUITLESS_ROUNDS = 3  # rounds of jobs that finish nothing, with nothing running elsewhere, before the run gives up


@dataclass
class SearchOutcome:
    """What a finished (or stopped) search leaves: why it stopped, its tables, and where."""

    reason: str
    tables: Tables
    study: optuna.Study
    config: SearchConfig
    out: Path | None
    seconds: float


def _train(study, cfg, url, monitor, splits: Splits | None, jobs: int, device: str, data_dir: str | None,
           deadline: float | None, folder: Path | None) -> list[str]:
    """One round of training: ``jobs`` processes, or this one when ``jobs`` is 1."""
    if jobs == 1:
        if splits is None:
            splits = read_data(cfg)
        return [TrialLoop(study, cfg, splits, monitor.handle, folder=folder).work(deadline)]
    specs = [JobSpec(j, url, cfg.study_name, device, data_dir, threads_per_job(jobs), deadline,
                     str(folder) if folder is not None else None) for j in range(jobs)]
    return run_jobs(study, monitor, specs)


def _finish(study, cfg, url, monitor, splits, jobs, device, data_dir, deadline, folder: Path | None,
            extra: list[records.Required] = ()) -> str:
    """Train until the budget and the required networks (and ``extra``) are finished, waiting (with a bound)
    for trials of other machines."""
    last_wait_line = 0.0
    fruitless = 0  # rounds of jobs in a row that finished nothing while nothing else ran
    template = baseline_spec(cfg, splits, "conv") if splits is not None else None
    while True:
        signals.check()
        reap_orphans(study)
        requeue_failed(study)
        if template is not None:
            records.queue_required(study, required_networks(cfg, template) + list(extra))
        done = records.finished_count(study)
        running = records.running_trials(study)
        outstanding = records.required_outstanding(study)
        if done >= cfg.budget and not outstanding:
            return "budget reached"
        if deadline is not None and time.time() > deadline:
            return "timeout"
        if done + len(running) < cfg.budget or any(t.state == optuna.trial.TrialState.WAITING for t in outstanding):
            finished_before = len(study.get_trials(deepcopy=False, states=records.FINISHED))
            reasons = _train(study, cfg, url, monitor, splits, jobs, device, data_dir, deadline, folder)
            final = [r for r in reasons if r.startswith(("timeout", "search space exhausted"))]
            if final:
                return final[0]
            if len(study.get_trials(deepcopy=False, states=records.FINISHED)) > finished_before:
                fruitless = 0
                continue
            running = records.running_trials(study)
            if not running:
                # Another process's trial may have been failed and queued again meanwhile (its heartbeat
                # late on a loaded machine): claim it on the next round; give up only when that repeats.
                fruitless += 1
                if fruitless >= MAX_FRUITLESS_ROUNDS:
                    raise RunFailure("the training jobs stopped without finishing a network; the study is intact, "
                                     "rerun the same command to continue")
                with signals.allowed():
                    time.sleep(2.0)
                continue
            # Another process claimed what was left between the check above and the jobs: wait for it.
        # The rest is being trained by processes on other machines: wait for them. Their
        # heartbeats bound the wait: a dead one's trial is failed and queued within the grace period.
        if time.monotonic() - last_wait_line > WAIT_LINE_SECONDS:
            last_wait_line = time.monotonic()
            who = ", ".join(f"trial {t.number} ({records.worker_of(t) or '?'})" for t in running + outstanding)
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
    check_measurable(cfg.objectives)  # an objective whose package is missing, before anything is read or written
    started, started_at = time.monotonic(), time.time()
    deadline = time.time() + cfg.timeout if cfg.timeout is not None else None
    n_jobs = resolve_jobs(jobs, cfg.device, cfg.budget)
    existed = prepare_folder(out)
    if existed:
        check_folder_study(out, cfg)  # one study per run folder
        remove_stale_temporaries(out)  # of a run killed between a write and its rename
    url = cfg.storage or embedded_url(out)
    if cfg.storage is not None:
        open_storage(url)  # an unreachable storage is refused before the data is read
    t0 = time.perf_counter()
    splits = read_data(cfg, progress)  # a bad dataset is refused before the storage is touched
    progress.line(f"data {cfg.data.dataset}: {len(splits.train_y):,} train / {len(splits.val_y):,} val / "
                  f"{len(splits.test_y):,} test images ({time.perf_counter() - t0:.1f}s)")
    template = baseline_spec(cfg, splits, "conv")
    if not template.slots():
        raise UserError(f"{cfg.model['source']} has no layer to factorise (a Conv2d with a square kernel larger than 1x1, "
                        "or a Linear): nothing to search; `ranksearch summary --model ...` lists what it finds")
    make_folder(out)
    try:
        study = open_study(cfg, url, cfg.seed, create=True)
    except UserError:
        if not existed:
            _remove_empty(out)
        raise
    monitor = Monitor(study, cfg, out, progress)
    records.queue_required(study, required_networks(cfg, template))  # first in the queue: the parent, the baselines
    if cfg.model is None and cfg.start == "scratch":  # the paper's setting; a parent's own warm starts beat them
        queue_paper_models(study, template, cfg.family)
    done = len(monitor.refresh().candidates)
    threads = threads_per_job(n_jobs)
    earlier = records.thread_counts(study) - {threads}
    if earlier and cfg.device != "cuda":
        progress.line(f"note: this run trains with {threads} thread{'s' if threads > 1 else ''} per job; networks of this "
                      f"study trained with {', '.join(map(str, sorted(earlier)))}: their figures round differently and "
                      "compare only roughly (keep --jobs as it was to compare exactly)")
    if cfg.start == "scratch" and cfg.warm_start and "conv" not in cfg.baselines and not cfg.given_weights:
        progress.line("note: no warm starts: under --start scratch they are read off the trained Conv2d baseline, "
                      "and --baselines has no conv")
    progress.line(
        f"study {cfg.study_name} in {url}: {done}/{cfg.budget} candidates finished; space {cfg.family}, "
        f"{_lineage(cfg)}, {cfg.recipe.precision}, sampler {cfg.sampler}, pruner {cfg.pruner}, "
        f"{n_jobs} job{'s' if n_jobs > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}"
    )
    try:
        reason = _finish(study, cfg, url, monitor, splits, n_jobs, cfg.device, cfg.data.data_dir, deadline, out)
        confirm: list[records.Required] = []
        for _ in range(CONFIRM_ROUNDS):  # a take that changes on its mean over seeds is confirmed too
            if reason != "budget reached" or not cfg.confirm_seeds:
                break
            tables = study_tables(study, cfg)
            new = [c for c in confirmations(verdict(tables, cfg), tables, cfg, template) if c not in confirm]
            if not new:
                break
            confirm += new
            progress.line(f"training again with {cfg.confirm_seeds} more seeds: {', '.join(dict.fromkeys(c.of for c in new))}")
            reason = _finish(study, cfg, url, monitor, splits, n_jobs, cfg.device, cfg.data.data_dir, deadline, out, confirm)
    finally:
        # Wall time: the union of the invocations that made the study (a rerun after Ctrl-C continues it;
        # runs sharing the study at the same time count once).
        storage.add_wall_interval(study, started_at, time.time())
        tables = monitor.refresh()
        progress.close()
    return SearchOutcome(reason, tables, study, cfg, out, time.monotonic() - started)


def _lineage(cfg: SearchConfig) -> str:
    if cfg.given_weights and cfg.start == "scratch":
        return f"the parent is your trained network, every candidate trained {epochs(cfg.recipe.epochs)} from scratch"
    if cfg.given_weights:
        return f"the parent is your trained network, candidates fine-tuned {epochs(cfg.finetune.epochs)} (SGD)"
    if cfg.start == "parent":
        return f"the parent trained {epochs(cfg.recipe.epochs)}, candidates fine-tuned {epochs(cfg.finetune.epochs)}"
    return f"every network trained {epochs(cfg.recipe.epochs)} from scratch"


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
    check_measurable(cfg.objectives)
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
        reasons = _train(study, cfg, storage, monitor, splits, n_jobs, device, data_dir, None, None)
    finally:
        progress.close()
    return reasons[0] if reasons else "budget reached"
