"""One process's part of a rank search: claim a trial, train it, record it, until the study is finished.

Every training process of a study (a run's local jobs, a worker on another machine) runs
``TrialLoop.work``. A claimed trial is the parent, a baseline (``ranksearch.baselines``) or a
candidate, trained here. Under ``start="parent"`` nothing that inherits is claimed before the
parent is trained: a process with nothing else to do waits for it. The loop prints nothing: it
sends events to an ``emit`` callable (``ranksearch.events``). Trials are claimed with Ctrl-C and
SIGTERM held back, so an interruption never leaves a trial that no process owns
(``ranksearch.trial_queue``).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import optuna
import torch
from optuna.trial import TrialState

from lightlayers import build_model, energy_kept, spec_from_dict

from ranksearch import records, signals
from ranksearch.baselines import Lineage, baseline_spec, lineage_of, load_parent, required_networks, save_parent
from ranksearch.config import SearchConfig
from ranksearch.data import Splits
from ranksearch.errors import Diverged, UserError, model_failure, storage_failure
from ranksearch.events import Emit, trainer_callbacks
from ranksearch.labels import epochs
from ranksearch.hardware import cores, torch_threads
from ranksearch.objectives import get_objective, measure_network
from ranksearch.pruners import make_pruner
from ranksearch.space import config_key, suggest_spec
from ranksearch.starts import queue_warm_starts
from ranksearch.storage import claim_waiting, heartbeat, write_curve
from ranksearch.trainer import evaluate_as_given, resolve_device, train
from ranksearch.trial_queue import reap_orphans, requeue_failed, worker_id

HEARTBEAT_WARNING = "Heartbeat of storage is supposed to be used with Study.optimize"
MAX_DUPLICATES_IN_A_ROW = 200
WAIT_SECONDS = 1.0


class TrialLoop:
    """One process's part of a study: its data, its recipes and the networks it trains.

    ``folder`` is the run folder, where a parent trained here is saved; a process without one
    (a worker on another machine) never claims the parent.
    """

    def __init__(self, study: optuna.Study, cfg: SearchConfig, splits: Splits, emit: Emit, job: int = 0,
                 folder: str | Path | None = None) -> None:
        self.study, self.cfg, self.splits, self.emit, self.job = study, cfg, splits, emit, job
        self.folder = Path(folder) if folder is not None else None
        self.template = baseline_spec(cfg, splits, "conv")
        self.pruner = make_pruner(cfg.pruner)
        self.duplicates_in_a_row = 0
        self.device = resolve_device(cfg.device)
        self._parent_state = None

    @property
    def checks(self) -> tuple[float, ...]:
        """Where the pruner wants a validation within an epoch (comparable baselines are validated there too).
        A check at 0 (before the first step) only says something of a network that inherits."""
        checks = self.pruner.checks(self.cfg.candidate_recipe.epochs)
        return checks if self.cfg.start == "parent" else tuple(c for c in checks if c > 0)

    def parent_state(self):
        if self._parent_state is None:
            self._parent_state = load_parent(records.parent_weights(self.study, self.folder))
        return self._parent_state

    # -- what to train next ---------------------------------------------------------------
    def _parent_ready(self) -> bool:
        return self.cfg.start == "scratch" or records.parent_trial(self.study) is not None

    def claim(self) -> optuna.Trial | None:
        """The next trial this process may train, or None for now (waiting for the parent, or the budget is full)."""
        ready = self._parent_ready()

        def wanted(t) -> bool:
            required = records.required_of(t)
            if required is not None and required.kind == "parent":
                return self.folder is not None
            inherits = required.inherits if required is not None else self.cfg.start == "parent"
            return ready or not inherits

        trial = claim_waiting(self.study, lambda t: records.is_retry(t) and wanted(t)) or claim_waiting(self.study, wanted)
        if trial is not None or not ready:
            return trial
        if records.finished_count(self.study) + len(records.running_trials(self.study)) >= self.cfg.budget:
            return None
        return self.study.ask()

    # -- the kinds of trial ---------------------------------------------------------------
    def train_parent(self, live: records.LiveTrial) -> list[float]:
        """The dense network every candidate inherits from: trained once, or a user's network measured as given."""
        spec = self.template
        words = ("your network as given, not retrained" if self.cfg.given_weights
                 else f"the dense network trained {epochs(self.cfg.recipe.epochs)}")
        with torch_threads(self._parent_threads()):
            measures = self._describe(live, "parent", spec, Lineage(words, False))
        if self.cfg.given_weights:
            with signals.allowed():
                val, test = evaluate_as_given(spec, self.splits, self.cfg.recipe, self.cfg.device)
            live.record_result([val], {}, test, 0.0)
            live.record_weights(str(Path(self.cfg.model["weights"]).resolve()))
            self.emit({"kind": "baseline", "job": self.job, "family": "parent (your trained weights, as given)",
                       "params": int(measures["trainable_params"]), "val": val, "test": test, "seconds": 0.0})
        else:
            with torch_threads(self._parent_threads()):
                result = self._train(live, spec, self.cfg.recipe, None, "parent", int(measures["trainable_params"]), checks=())
            live.record_weights(save_parent(result.model, self.folder))
            self.emit({"kind": "baseline", "job": self.job, "family": "parent", "params": int(measures["trainable_params"]),
                       "val": result.val_accuracy, "test": result.test_accuracy, "seconds": result.seconds})
        if self.cfg.warm_start:
            trained = build_model(spec) if self.cfg.given_weights else result.model.cpu()
            queue_warm_starts(self.study, self.template, self.cfg.family, trained, self.cfg.warm_shares)
        return [records.candidate(live.trial).last_val_accuracy] + self._objectives(measures)

    def _parent_threads(self) -> int:
        """Every core of this machine when nothing else can train meanwhile (every baseline and candidate
        inherits, so this machine's other jobs wait for the parent); else this job's share."""
        if self.device.type != "cpu" or self.cfg.given_weights:
            return torch.get_num_threads()
        others = [r for r in required_networks(self.cfg, self.template) if r.kind == "baseline" and not r.inherits]
        return torch.get_num_threads() if others else max(torch.get_num_threads(), cores())

    def train_baseline(self, live: records.LiveTrial) -> list[float]:
        name = live.required.name
        spec = baseline_spec(self.cfg, self.splits, name)
        lineage = lineage_of(self.cfg, live.required)
        if lineage.inherits:
            live.record_energy(energy_kept(spec, self.parent_state()))
        if records.queued_params(live.trial):  # a point of the space: its parameters recorded, so the sampler models it
            suggest_spec(live.trial, self.template, self.cfg.family)
            if live.required.comparable:
                live.set_key(config_key(spec))  # trained as candidates are: never trained twice
        measures = self._describe(live, name, spec, lineage)
        if lineage.inherits:
            recipe, parent = self.cfg.candidate_recipe, self.parent_state()
        else:
            recipe, parent = lineage.recipe(self.cfg), None
        checks = self.checks if live.required.comparable else ()
        result = self._train(live, spec, recipe, parent, f"baseline {name}", int(measures["trainable_params"]), checks)
        if name == "conv" and self.cfg.start == "scratch" and self.cfg.warm_start:
            queue_warm_starts(self.study, self.template, self.cfg.family, result.model.cpu(), self.cfg.warm_shares)
        self.emit({"kind": "baseline", "job": self.job, "family": name, "params": int(measures["trainable_params"]),
                   "val": result.val_accuracy, "test": result.test_accuracy, "seconds": result.seconds})
        return [result.val_accuracy] + self._objectives(measures)

    def train_confirmation(self, live: records.LiveTrial) -> list[float]:
        """A network the verdict names, trained again with another seed from the same start."""
        required = live.required
        if required.of.startswith("baseline "):
            name = required.of.removeprefix("baseline ")
            spec = baseline_spec(self.cfg, self.splits, name)
            base = next(r for r in required_networks(self.cfg, self.template) if r.kind == "baseline" and r.name == name)
            lineage = lineage_of(self.cfg, base)
            recipe = self.cfg.candidate_recipe if lineage.inherits else lineage.recipe(self.cfg)
        else:
            row = records.candidate_numbered(self.study, int(required.of.removeprefix("trial ")))
            spec, lineage = spec_from_dict(row.spec), None
            recipe = self.cfg.candidate_recipe
        measures = self._describe(live, required.of, spec, lineage)
        parent = self.parent_state() if required.inherits else None
        result = self._train(live, spec, recipe, parent, f"{required.of}, seed {required.seed}",
                             int(measures["trainable_params"]), (), seed=required.seed)
        self.emit({"kind": "line", "text": f"{required.of} again with seed {required.seed}: val {result.val_accuracy:.4f}  "
                                           f"test {result.test_accuracy:.4f}  ({result.seconds:.0f}s)"})
        return [result.val_accuracy] + self._objectives(measures)

    def train_candidate(self, live: records.LiveTrial) -> list[float]:
        trial = live.trial
        if records.finished_count(self.study) + len(records.running_trials(self.study, before=trial)) >= self.cfg.budget:
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
        measures = self._describe(live, self.cfg.family, spec, None)
        parent = self.parent_state() if self.cfg.start == "parent" else None
        if parent is not None:
            live.record_energy(energy_kept(spec, parent))
        result = self._train(live, spec, self.cfg.candidate_recipe, parent, f"trial {trial.number}",
                             int(measures["trainable_params"]), self.checks, pruned=True)
        write_curve(self.study, trial, result.val_curve)
        return [result.val_accuracy] + self._objectives(measures)

    # -- shared steps ---------------------------------------------------------------------
    def _objectives(self, measures: dict[str, float]) -> list[float]:
        return [measures[get_objective(o).column] for o in self.cfg.objectives]

    def _describe(self, live: records.LiveTrial, name: str, spec, lineage: Lineage | None) -> dict[str, float]:
        measuring = time.perf_counter()
        measures = measure_network(spec, self.device, self.cfg.objectives)
        live.describe(name, spec.to_dict(), measures, time.perf_counter() - measuring, lineage.words if lineage else "",
                      torch.get_num_threads() if self.device.type == "cpu" else None)
        return measures

    def _train(self, live: records.LiveTrial, spec, recipe, parent, who: str, params: int, checks, pruned: bool = False,
               seed: int | None = None):
        curve: list[float] = []
        checked: dict[str, float] = {}
        started = time.perf_counter()

        def after_point(at: float) -> None:
            live.record_point(curve, checked, at_check=at != int(at) or at == 0, seconds=time.perf_counter() - started)
            if pruned and at < recipe.epochs and self.pruner.prune(self.study, live.trial):
                raise optuna.TrialPruned(f"pruned at epoch {at:g}")

        callbacks = trainer_callbacks(self.emit, self.job, who, params, recipe.epochs, checks, curve, checked, after_point)
        with signals.allowed():
            result = train(spec, self.splits, recipe, seed=self.cfg.seed if seed is None else seed, device=self.cfg.device,
                           parent=parent, **callbacks)
        live.record_result(curve, checked, result.test_accuracy, result.seconds)
        if not pruned:  # a candidate's curve is written once it completes (a pruned one's would confuse TPE)
            write_curve(self.study, live.trial, result.val_curve)
        return result

    # -- the loop -------------------------------------------------------------------------
    def run_one(self) -> bool:
        """Claim a trial, train it and record it (False: nothing to claim now); an interruption marks it
        FAIL and goes on up."""
        started = time.perf_counter()
        with signals.deferred(), warnings.catch_warnings():  # no Ctrl-C between the trial's creation and its owner's name
            # This loop asks and tells trials itself (so it can claim them with signals held back) and keeps
            # their heartbeats itself; Optuna warns that heartbeats are meant for Study.optimize.
            warnings.filterwarnings("ignore", message=HEARTBEAT_WARNING)
            trial = self.claim()
            if trial is None:
                return False
            live = records.LiveTrial(self.study, trial)
            live.claim(worker_id())
        state, values = TrialState.FAIL, None
        try:
            twin = records.required_twin(self.study, trial) if live.required else None
            if twin is not None:  # two processes queued the same required network: the earlier trial counts
                live.mark_duplicate(twin.number)
                raise optuna.TrialPruned(f"the same network as trial {twin.number}")
            train_it = {"parent": self.train_parent, "baseline": self.train_baseline,
                        "confirm": self.train_confirmation}.get(live.kind, self.train_candidate)
            with heartbeat(self.study, trial):
                values = train_it(live)
            state = TrialState.COMPLETE
        except optuna.TrialPruned:
            state = TrialState.PRUNED
        except Diverged as e:
            if live.kind == "parent":
                raise  # nothing inherits from a diverged parent: the run stops with the one line
            with signals.deferred():
                live.mark_diverged(e.at)
            state = TrialState.PRUNED  # never complete, never on the front or in the verdict
            self.emit({"kind": "line", "text": f"job {self.job}: {live.kind} {live.number} diverged at epoch {e.at:g}; "
                                               "recorded as stopped there"})
        except optuna.exceptions.UpdateFinishedTrialError:
            # Another process finished this trial meanwhile (a reaper that judged it orphaned, which
            # also queues it again): this job lets it go.
            self.emit({"kind": "line", "text": f"job {self.job}: trial {live.number} was finished by another process; letting it go"})
        except Exception as e:
            # A user's network that raises while it is measured or trained raises again on a rerun: one line
            # (exit 2) naming the trial, not a job restarted until it gives up.
            if self.cfg.model is None or isinstance(e, UserError) or storage_failure(e) is not None:
                raise
            name = f" {live.required.name}" if live.kind == "baseline" else ""
            raise model_failure(f"trial {live.number} ({live.kind}{name})", self.cfg.model["source"], e) from None
        finally:
            with signals.deferred(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=HEARTBEAT_WARNING)
                try:
                    live.record_overhead(time.perf_counter() - started)
                    self.study.tell(trial, values if state == TrialState.COMPLETE else None, state=state, skip_if_finished=True)
                except optuna.exceptions.UpdateFinishedTrialError:
                    pass  # finished by another process meanwhile
        if live.kind == "candidate" and live.trains_a_network():
            self.emit({"kind": "trial", "job": self.job, "number": live.number, "state": state.name})
        elif live.kind != "candidate":
            self.emit({"kind": "required", "job": self.job})
        return True

    def work(self, deadline: float | None = None) -> str:
        """Train until the budget and every required network are finished (or ``time.time()`` passes
        ``deadline``); say why it stopped."""
        while True:
            signals.check()  # one that came while no candidate trained (duplicates, surplus) stops here
            if reap_orphans(self.study):
                requeue_failed(self.study)
                records.queue_required(self.study, required_networks(self.cfg, self.template))
            finished = records.finished_count(self.study)
            outstanding = records.required_outstanding(self.study)
            if finished >= self.cfg.budget and not outstanding:
                return "budget reached"
            if deadline is not None and time.time() > deadline:
                return "timeout"
            if self.duplicates_in_a_row >= MAX_DUPLICATES_IN_A_ROW:
                return "search space exhausted (the sampler proposes only trained configurations)"
            if self.run_one():
                continue
            waiting_here = [t for t in outstanding if t.state == TrialState.WAITING]
            if finished + len(records.running_trials(self.study)) >= self.cfg.budget and not waiting_here:
                return "budget reached (last trials running in other processes)"
            with signals.allowed():  # the parent trains elsewhere, or the last places are taken: wait
                time.sleep(WAIT_SECONDS)
