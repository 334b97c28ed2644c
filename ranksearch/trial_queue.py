"""The study's queue across processes: who owns a running trial, failing orphans, queueing failed candidates again.

A live process names itself on its trial (``worker``: host and process id) within milliseconds
of claiming it. A RUNNING trial is an orphan when its process is gone: a dead process of this
machine is found by its id at once; one on another machine by its heartbeat (Optuna's
``fail_stale_trials``). An orphan is failed, and a failed candidate is queued again once, so a
rerun trains it; a candidate queued again is claimed before the rest of the queue.
"""

from __future__ import annotations

import os
import socket
import time
import warnings

import optuna
from optuna.trial import FrozenTrial, TrialState

from ranksearch import records, storage
from ranksearch.storage import claim_waiting, fail_trial

HOST = socket.gethostname()
ORPHAN_SECONDS = 10.0  # a live process names itself on its trial within milliseconds of creating it


def worker_id() -> str:
    return f"{HOST}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def is_orphan(t: FrozenTrial, now: float | None = None) -> bool:
    """A RUNNING trial whose process is gone: a dead process of this machine, or one that never named itself."""
    worker = records.worker_of(t)
    if worker is None:
        started = t.datetime_start.timestamp() if t.datetime_start else 0.0
        return (now or time.time()) - started > ORPHAN_SECONDS
    host, _, pid = worker.rpartition(":")
    return host == HOST and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))


def reap_orphans(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials no live process owns (this machine's at once, others' by heartbeat)."""
    with warnings.catch_warnings():  # marked experimental; we rely on it knowingly
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    return [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if is_orphan(t) and fail_trial(study, t)]


def requeue_failed(study: optuna.Study) -> list[int]:
    """Queue again candidates that failed (Ctrl-C, a crash) and were never finished or queued."""
    trials = study.get_trials(deepcopy=False)
    done = {records.config_key_of(t) for t in trials if t.state in records.FINISHED}
    queued = [records.queued_params(t) for t in trials if t.state in (TrialState.WAITING, TrialState.RUNNING)]
    already = storage.requeued(study)
    new = []
    for t in trials:
        params = records.queued_params(t)
        if t.state != TrialState.FAIL or t.number in already or not params or records.kind_of(t) != "candidate":
            continue  # a failed parent or baseline is queued again by records.queue_required
        if records.config_key_of(t) in done or params in queued:
            continue
        records.enqueue_retry(study, params, of=t.number)
        queued.append(params)
        new.append(t.number)
    if new:
        storage.add_requeued(study, new)
    return new


def ask_retries_first(study: optuna.Study) -> optuna.Trial:
    """``study.ask()``, but an interrupted candidate queued again is trained before the rest of
    the queue (paper models, warm starts), so a rerun with a small budget still retrains it."""
    return claim_waiting(study, records.is_retry) or study.ask()
