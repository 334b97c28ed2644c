"""One process's part of a rank search: baselines, the objective, and the trial loop.

Every training process of a study (a run's local jobs, a worker on another machine) runs
``Search.work``: claim a trial, train it, record it, until the budget of finished (complete +
pruned) candidates is reached. It prints nothing: it sends events (plain dicts) to an
``emit`` callable, and whoever started it shows them. Trials are claimed with Ctrl-C and
SIGTERM held back, so an interruption never leaves a trial that no process owns; a trial
whose process died is found by its process id on this machine, or by its heartbeat elsewhere.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import optuna
from optuna.trial import FrozenTrial, TrialState

from lightlayers import LayerChoice, ModelSpec, NetworkSpec, build_model, count_model, reference_spec, reference_spec_for_shape

from ranksearch import signals
from ranksearch.config import OBJECTIVES, SearchConfig
from ranksearch.data import REFERENCE_NAMES, Splits
from ranksearch.curves import check_key
from ranksearch.pruning import make_pruner
from ranksearch.results import BASELINE_FAMILIES, candidate_trials
from ranksearch.space import PAPER_RANKS, config_key, suggest_spec, uniform_params
from ranksearch.latency import measure_latency
from ranksearch.trainer import evaluate_as_given, resolve_device, train
from ranksearch.warmstart import warm_params

# This loop asks and tells trials itself (so it can claim them with signals held back) and keeps
# their heartbeats itself; Optuna warns that heartbeats are meant for Study.optimize.
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")

Emit = Callable[[dict[str, Any]], None]
HOST = socket.gethostname()
MAX_DUPLICATES_IN_A_ROW = 200
ORPHAN_SECONDS = 10.0  # a live process names itself on its trial within milliseconds of creating it
STEP_EVENT_SECONDS = 1.0


def worker_id() -> str:
    return f"{HOST}:{os.getpid()}"


def baseline_spec(cfg: SearchConfig, splits: Splits, family: str) -> ModelSpec | NetworkSpec:
    """The network of ``family`` for the data: conv is the dense network itself (the paper's
    reference network, or the user's network unmodified), separable every convolution separable."""
    if cfg.model is not None:
        base = NetworkSpec(cfg.model["source"], splits.in_channels, splits.image_size, splits.num_classes,
                           cfg.model["kwargs"], weights=cfg.model["weights"])
        return base.with_layers({  # every slot named: the unchanged ones as conv / linear
            s.name: LayerChoice("linear") if s.kind == "dense" else LayerChoice(family) for s in base.slots()
        })
    if cfg.data.dataset in REFERENCE_NAMES:
        return reference_spec(cfg.data.dataset, family)
    return reference_spec_for_shape(splits.in_channels, splits.image_size, splits.num_classes, family)


def describe(spec: ModelSpec, device: str = "cpu") -> dict[str, float]:
    """What a network costs, known before training: parameters, FLOPs, measured inference latency."""
    model = build_model(spec)
    counts = count_model(model)
    latency = measure_latency(model, (spec.in_channels, spec.image_size, spec.image_size), resolve_device(device))
    return {"trainable_params": counts.trainable_params, "keras_params": counts.keras_params, "flops": counts.flops, **latency}


# -- trials no live process owns --------------------------------------------------------------
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
    worker = t.user_attrs.get("worker")
    if worker is None:
        started = t.datetime_start.timestamp() if t.datetime_start else 0.0
        return (now or time.time()) - started > ORPHAN_SECONDS
    host, _, pid = worker.rpartition(":")
    return host == HOST and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))


def reap_orphans(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials no live process owns (this machine's at once, others' by heartbeat)."""
    optuna.storages.fail_stale_trials(study)
    reaped = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if is_orphan(t):
            try:
                study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
                reaped.append(t.number)
            except optuna.exceptions.UpdateFinishedTrialError:  # finished meanwhile
                pass
    return reaped


def requeue_failed(study: optuna.Study) -> list[int]:
    """Queue again candidates that failed (Ctrl-C, a crash) and were never finished or queued."""
    trials = study.get_trials(deepcopy=False)
    done = {t.user_attrs.get("config_key") for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)}
    queued = [t.params or t.system_attrs.get("fixed_params") for t in trials if t.state in (TrialState.WAITING, TrialState.RUNNING)]
    requeued = set(study.user_attrs.get("requeued", []))
    new = []
    for t in trials:
        # Interrupted before its first suggestion, an enqueued trial holds its parameters only as fixed_params.
        params = t.params or t.system_attrs.get("fixed_params") or {}
        if t.state != TrialState.FAIL or t.number in requeued or not params:
            continue
        if t.user_attrs.get("config_key") in done or params in queued:
            continue
        study.enqueue_trial(params, user_attrs={"retry_of": t.number})
        queued.append(params)
        new.append(t.number)
    if new:
        study.set_user_attr("requeued", sorted(requeued | set(new)))
    return new


def ask_retries_first(study: optuna.Study) -> optuna.Trial:
    """``study.ask()``, but an interrupted candidate queued again is trained before the rest of
    the queue (paper models, warm starts), so a rerun with a small budget still retrains it."""
    storage = study._storage
    for t in storage.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.WAITING,)):
        if "retry_of" not in t.user_attrs:
            continue
        try:
            if storage.set_trial_state_values(t._trial_id, state=TrialState.RUNNING):  # False: another process won it
                return optuna.Trial(study, t._trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return study.ask()


@contextmanager
def heartbeat(study: optuna.Study, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat now and every interval while the block runs (RDB storages)."""
    storage = study._storage
    interval = storage.get_heartbeat_interval() if hasattr(storage, "get_heartbeat_interval") else None
    if not interval:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                storage.record_heartbeat(trial_id)
            except Exception:  # a storage hiccup must not kill training; the next beat retries
                pass
            if stop.wait(interval):
                return

    storage.record_heartbeat(trial_id)
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


class Search:
    """One process's part of a study: its data, recipe and the objective it trains."""

    def __init__(self, study: optuna.Study, cfg: SearchConfig, splits: Splits, emit: Emit, job: int = 0) -> None:
        self.study, self.cfg, self.splits, self.emit, self.job = study, cfg, splits, emit, job
        self.template = baseline_spec(cfg, splits, "conv")
        self.pruner = make_pruner(cfg.pruner)
        self.duplicates_in_a_row = 0

    # -- budget ---------------------------------------------------------------------------
    # A candidate counts once it has started training (it then holds the user attribute "spec");
    # duplicates and surplus trials never get that far.
    def finished(self) -> int:
        return len(candidate_trials(self.study))

    def running(self, before: int | None = None) -> list[FrozenTrial]:
        """Candidates running now (in any process), or only those numbered below ``before``."""
        return [
            t for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if "duplicate_of" not in t.user_attrs and "surplus" not in t.user_attrs
            and (before is None or t.number < before)
        ]

    # -- progress -------------------------------------------------------------------------
    def _trainer_callbacks(self, who: str, params: int, curve: list[float], checked: dict[str, float],
                           after_point=None):
        """The trainer's callbacks: progress events, the curve and checks recorded, then ``after_point(epochs trained)``."""
        epochs = self.cfg.recipe.epochs
        last = [0.0]

        def on_step(epoch: int, step: int, steps: int) -> None:
            signals.check()
            now = time.monotonic()
            if now - last[0] >= STEP_EVENT_SECONDS or step == steps:
                last[0] = now
                with signals.deferred():
                    self.emit({"kind": "step", "job": self.job, "who": who, "params": params, "epoch": epoch,
                               "epochs": epochs, "step": step, "steps": steps, "val": curve[-1] if curve else None})

        def on_epoch(epoch: int, acc: float) -> None:
            curve.append(acc)
            with signals.deferred():  # storage writes and events are never cut in half
                self.emit({"kind": "epoch", "job": self.job, "who": who, "params": params, "epoch": epoch,
                           "epochs": epochs, "val": acc})
                if after_point is not None:
                    after_point(float(epoch))

        def on_check(at: float, acc: float) -> None:
            checked[check_key(at)] = acc
            with signals.deferred():
                self.emit({"kind": "check", "job": self.job, "who": who, "params": params, "at": at,
                           "epochs": epochs, "val": acc})
                if after_point is not None:
                    after_point(at)

        return {"on_step": on_step, "on_epoch": on_epoch, "on_check": on_check,
                "checks": self.pruner.checks(epochs)}

    # -- baselines and the paper's models -------------------------------------------------
    def measure_given(self) -> None:
        """With a user's trained weights: the unmodified network's accuracy before any training, once per study."""
        if self.cfg.model is None or not self.cfg.model["weights"] or "baseline:given" in self.study.user_attrs:
            return
        spec = baseline_spec(self.cfg, self.splits, "conv")
        with signals.allowed():
            val, test = evaluate_as_given(spec, self.splits, self.cfg.recipe, self.cfg.device)
        info = describe(spec, self.cfg.device)
        self.study.set_user_attr("baseline:given", {
            "family": "given", "spec": spec.to_dict(), **info, "val_curve": [val], "test_accuracy": test, "seconds": 0.0,
        })
        self.emit({"kind": "baseline", "job": self.job, "family": "given (trained weights, not retrained)",
                   "params": info["trainable_params"], "val": val, "test": test, "seconds": 0.0})

    def train_baselines(self, families: tuple[str, ...] = BASELINE_FAMILIES) -> None:
        """Train the Conv2d and SeparableConv2d baselines once per study, with the candidates' recipe and data."""
        if "conv" in families:
            self.measure_given()
        for family in families:
            key = f"baseline:{family}"
            if key in self.study.user_attrs:
                continue
            spec = baseline_spec(self.cfg, self.splits, family)
            info = describe(spec, self.cfg.device)
            curve: list[float] = []
            checked: dict[str, float] = {}
            callbacks = self._trainer_callbacks(f"baseline {family}", info["trainable_params"], curve, checked)
            with signals.allowed():
                result = train(spec, self.splits, self.cfg.recipe, seed=self.cfg.seed, device=self.cfg.device, **callbacks)
            self.study.set_user_attr(key, {
                "family": family, "spec": spec.to_dict(), **info, "val_curve": result.val_curve, "val_checks": checked,
                "test_accuracy": result.test_accuracy, "seconds": result.seconds,
            })
            # One readable line beside the record, for people browsing the study (optuna-dashboard).
            self.study.set_user_attr(f"{key} summary", f"{info['trainable_params']:,} trainable parameters, "
                                     f"val {result.val_accuracy:.4f}, test {result.test_accuracy:.4f}, {result.seconds:.0f} s")
            if family == "conv" and self.cfg.warm_start:
                warm = warm_params(self.template, self.cfg.family, result.model.cpu())
                for params in warm:
                    self.study.enqueue_trial(params, skip_if_exists=True)
                self.study.set_user_attr("warm_starts", warm)  # the report marks them
            self.emit({"kind": "baseline", "job": self.job, "family": family, "params": info["trainable_params"],
                       "val": result.val_accuracy, "test": result.test_accuracy, "seconds": result.seconds})

    def enqueue_paper_models(self) -> None:
        """The paper's uniform-rank models first (reference networks only)."""
        if self.study.user_attrs.get("paper_models_enqueued") or self.cfg.model is not None:
            return
        for rank in PAPER_RANKS:
            self.study.enqueue_trial(uniform_params(self.template, self.cfg.family, rank), skip_if_exists=True)
        self.study.set_user_attr("paper_models_enqueued", True)

    # -- the objective --------------------------------------------------------------------
    def objective(self, trial: optuna.Trial) -> list[float]:
        if self.finished() + len(self.running(before=trial.number)) >= self.cfg.budget:
            # Another process took the last place in the budget between our check and this trial.
            trial.set_user_attr("surplus", True)
            raise optuna.TrialPruned("budget already filled by other workers")
        spec = suggest_spec(trial, self.template, self.cfg.family)
        key = config_key(spec)
        trial.set_user_attr("config_key", key)
        twin = self._twin(key, trial.number)  # written first, then read: of two racing twins, one always sees the other
        if twin is not None:
            trial.set_user_attr("duplicate_of", twin.number)
            self.duplicates_in_a_row += 1
            if twin.state == TrialState.COMPLETE:
                return list(twin.values)
            raise optuna.TrialPruned(f"same configuration as trial {twin.number}")
        self.duplicates_in_a_row = 0
        measuring = time.perf_counter()
        info = describe(spec, self.cfg.device)
        trial.set_user_attr("describe_seconds", time.perf_counter() - measuring)  # latency runs: not overhead
        for name, value in {"family": self.cfg.family, **info, "spec": spec.to_dict()}.items():
            trial.set_user_attr(name, value)
        curve: list[float] = []
        checked: dict[str, float] = {}
        # An empty curve from the start: a candidate stopped at its first check has trained, and
        # pruners count it among the candidates at that check (pruning.trained_candidates).
        trial.set_user_attr("val_curve", curve)
        started = time.perf_counter()
        epochs = self.cfg.recipe.epochs

        def after_point(at: float) -> None:
            if at == int(at):
                trial.set_user_attr("val_curve", curve)
            else:
                trial.set_user_attr("val_checks", checked)
            trial.set_user_attr("seconds", time.perf_counter() - started)
            if at < epochs and self.pruner.prune(self.study, trial):
                raise optuna.TrialPruned(f"pruned at epoch {at:g}")

        callbacks = self._trainer_callbacks(f"trial {trial.number}", info["trainable_params"], curve, checked, after_point)
        with signals.allowed():
            result = train(spec, self.splits, self.cfg.recipe, seed=self.cfg.seed, device=self.cfg.device, **callbacks)
        trial.set_user_attr("test_accuracy", result.test_accuracy)  # reported only; never an objective
        trial.set_user_attr("seconds", result.seconds)
        # The learning curve also as intermediate values, which optuna-dashboard plots (Trial.report
        # refuses multi-objective studies; the storage does not). Complete trials only: TPE reads a
        # pruned trial's intermediate values as one objective and fails in a multi-objective study.
        for epoch, acc in enumerate(curve, start=1):
            self.study._storage.set_trial_intermediate_value(trial._trial_id, epoch, acc)
        return [result.val_accuracy] + [info[OBJECTIVES[o]] for o in self.cfg.objectives]

    def _twin(self, key: str, number: int) -> FrozenTrial | None:
        twins = [
            t for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
            if t.number != number and t.user_attrs.get("config_key") == key and "duplicate_of" not in t.user_attrs
        ]
        return min(twins, key=lambda t: t.number) if twins else None

    # -- the loop -------------------------------------------------------------------------
    def run_one(self) -> None:
        """Claim one trial, train it and record it; an interruption marks it FAIL and goes on up."""
        started = time.perf_counter()
        with signals.deferred():  # no Ctrl-C between the trial's creation and its owner's name
            trial = ask_retries_first(self.study)
            trial.set_user_attr("worker", worker_id())
        state, values = TrialState.FAIL, None
        try:
            with heartbeat(self.study, trial._trial_id):
                values = self.objective(trial)
            state = TrialState.COMPLETE
        except optuna.TrialPruned:
            state = TrialState.PRUNED
        except optuna.exceptions.UpdateFinishedTrialError:
            # Another process finished this trial meanwhile (a reaper that judged it orphaned, which
            # also queues it again): this job lets it go.
            self.emit({"kind": "line", "text": f"job {self.job}: trial {trial.number} was finished by another process; letting it go"})
        finally:
            with signals.deferred():
                try:
                    if "spec" in trial.user_attrs:
                        own = trial.user_attrs.get("seconds", 0.0) + trial.user_attrs.get("describe_seconds", 0.0)
                        trial.set_user_attr("overhead_seconds", max(0.0, time.perf_counter() - started - own))
                    self.study.tell(trial, values if state == TrialState.COMPLETE else None, state=state, skip_if_finished=True)
                except optuna.exceptions.UpdateFinishedTrialError:
                    pass  # finished by another process meanwhile
        if "spec" in trial.user_attrs and "duplicate_of" not in trial.user_attrs:
            self.emit({"kind": "trial", "job": self.job, "number": trial.number, "state": state.name})

    def work(self, deadline: float | None = None) -> str:
        """Train candidates until the budget is reached (or ``time.time()`` passes ``deadline``); say why it stopped."""
        while True:
            signals.check()  # one that came while no candidate trained (duplicates, surplus) stops here
            if reap_orphans(self.study):
                requeue_failed(self.study)
            finished = self.finished()
            if finished >= self.cfg.budget:
                return "budget reached"
            if finished + len(self.running()) >= self.cfg.budget:
                return "budget reached (last trials running in other processes)"
            if deadline is not None and time.time() > deadline:
                return "timeout"
            if self.duplicates_in_a_row >= MAX_DUPLICATES_IN_A_ROW:
                return "search space exhausted (the sampler proposes only trained configurations)"
            self.run_one()
