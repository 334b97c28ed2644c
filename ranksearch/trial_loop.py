"""One process's part of a rank search: claim a trial, train it, record it, until the budget is finished.

Every training process of a study (a run's local jobs, a worker on another machine) runs
``TrialLoop.work``. It prints nothing: it sends events to an ``emit`` callable
(``ranksearch.events``). Trials are claimed with Ctrl-C and SIGTERM held back, so an
interruption never leaves a trial that no process owns (``ranksearch.trial_queue``).
"""

from __future__ import annotations

import time
import warnings

import optuna
from optuna.trial import TrialState

from ranksearch import records, signals
from ranksearch.baselines import baseline_spec
from ranksearch.config import SearchConfig
from ranksearch.data import Splits
from ranksearch.events import Emit, trainer_callbacks
from ranksearch.objectives import get_objective, measure_network
from ranksearch.pruners import make_pruner
from ranksearch.space import config_key, suggest_spec
from ranksearch.storage import heartbeat, write_curve
from ranksearch.trainer import resolve_device, train
from ranksearch.trial_queue import ask_retries_first, reap_orphans, requeue_failed, worker_id

HEARTBEAT_WARNING = "Heartbeat of storage is supposed to be used with Study.optimize"
MAX_DUPLICATES_IN_A_ROW = 200


class TrialLoop:
    """One process's part of a study: its data, recipe and the objective it trains."""

    def __init__(self, study: optuna.Study, cfg: SearchConfig, splits: Splits, emit: Emit, job: int = 0) -> None:
        self.study, self.cfg, self.splits, self.emit, self.job = study, cfg, splits, emit, job
        self.template = baseline_spec(cfg, splits, "conv")
        self.pruner = make_pruner(cfg.pruner)
        self.duplicates_in_a_row = 0

    @property
    def checks(self) -> tuple[float, ...]:
        """Where the pruner wants a validation within an epoch (baselines are validated there too)."""
        return self.pruner.checks(self.cfg.recipe.epochs)

    def objective(self, live: records.LiveTrial) -> list[float]:
        trial = live.trial
        if records.finished_count(self.study) + len(records.running_trials(self.study, before=trial.number)) >= self.cfg.budget:
            # Another process took the last place in the budget between our check and this trial.
            live.mark_surplus()
            raise optuna.TrialPruned("budget already filled by other workers")
        spec = suggest_spec(trial, self.template, self.cfg.family)
        key = config_key(spec)
        live.set_key(key)
        twin = records.twin_of(self.study, key, trial.number)  # written first, then read: of two racing twins, one sees the other
        if twin is not None:
            live.mark_duplicate(twin.number)
            self.duplicates_in_a_row += 1
            if twin.state == TrialState.COMPLETE:
                return list(twin.values)
            raise optuna.TrialPruned(f"same configuration as trial {twin.number}")
        self.duplicates_in_a_row = 0
        measuring = time.perf_counter()
        measures = measure_network(spec, resolve_device(self.cfg.device))
        live.describe(self.cfg.family, spec.to_dict(), measures, time.perf_counter() - measuring)
        curve: list[float] = []
        checked: dict[str, float] = {}
        started = time.perf_counter()
        epochs = self.cfg.recipe.epochs

        def after_point(at: float) -> None:
            live.record_point(curve, checked, at_check=at != int(at), seconds=time.perf_counter() - started)
            if at < epochs and self.pruner.prune(self.study, trial):
                raise optuna.TrialPruned(f"pruned at epoch {at:g}")

        callbacks = trainer_callbacks(self.emit, self.job, f"trial {trial.number}", int(measures["trainable_params"]),
                                      epochs, self.checks, curve, checked, after_point)
        with signals.allowed():
            result = train(spec, self.splits, self.cfg.recipe, seed=self.cfg.seed, device=self.cfg.device, **callbacks)
        live.record_result(result.test_accuracy, result.seconds)
        write_curve(self.study, trial, curve)
        return [result.val_accuracy] + [measures[get_objective(o).column] for o in self.cfg.objectives]

    def run_one(self) -> None:
        """Claim one trial, train it and record it; an interruption marks it FAIL and goes on up."""
        started = time.perf_counter()
        with signals.deferred(), warnings.catch_warnings():  # no Ctrl-C between the trial's creation and its owner's name
            # This loop asks and tells trials itself (so it can claim them with signals held back) and keeps
            # their heartbeats itself; Optuna warns that heartbeats are meant for Study.optimize.
            warnings.filterwarnings("ignore", message=HEARTBEAT_WARNING)
            live = records.LiveTrial(self.study, ask_retries_first(self.study))
            live.claim(worker_id())
        state, values = TrialState.FAIL, None
        try:
            with heartbeat(self.study, live.trial):
                values = self.objective(live)
            state = TrialState.COMPLETE
        except optuna.TrialPruned:
            state = TrialState.PRUNED
        except optuna.exceptions.UpdateFinishedTrialError:
            # Another process finished this trial meanwhile (a reaper that judged it orphaned, which
            # also queues it again): this job lets it go.
            self.emit({"kind": "line", "text": f"job {self.job}: trial {live.number} was finished by another process; letting it go"})
        finally:
            with signals.deferred(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=HEARTBEAT_WARNING)
                try:
                    live.record_overhead(time.perf_counter() - started)
                    self.study.tell(live.trial, values if state == TrialState.COMPLETE else None, state=state, skip_if_finished=True)
                except optuna.exceptions.UpdateFinishedTrialError:
                    pass  # finished by another process meanwhile
        if live.is_candidate():
            self.emit({"kind": "trial", "job": self.job, "number": live.number, "state": state.name})

    def work(self, deadline: float | None = None) -> str:
        """Train candidates until the budget is reached (or ``time.time()`` passes ``deadline``); say why it stopped."""
        while True:
            signals.check()  # one that came while no candidate trained (duplicates, surplus) stops here
            if reap_orphans(self.study):
                requeue_failed(self.study)
            finished = records.finished_count(self.study)
            if finished >= self.cfg.budget:
                return "budget reached"
            if finished + len(records.running_trials(self.study)) >= self.cfg.budget:
                return "budget reached (last trials running in other processes)"
            if deadline is not None and time.time() > deadline:
                return "timeout"
            if self.duplicates_in_a_row >= MAX_DUPLICATES_IN_A_ROW:
                return "search space exhausted (the sampler proposes only trained configurations)"
            self.run_one()
