"""The rank search: baselines, the objective, and the loop every worker runs.

Flow: ``run_search`` opens (or creates, or checks) the study, trains the Conv2d and
SeparableConv2d baselines once, enqueues the paper's uniform-rank models, then trains
candidates until the budget of finished (complete + pruned) candidates is reached.
``run_worker`` joins a study by storage URL and name and runs the same loop. Neither prints
a report: they return what happened, and the caller shows it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path

import optuna
from optuna.trial import TrialState

from lightlayers import ModelSpec, build_model, count_model, reference_spec, reference_spec_for_shape

from ranksearch.config import OBJECTIVES, SearchConfig
from ranksearch.data import REFERENCE_NAMES, Splits, load_splits
from ranksearch.progress import Progress, bar
from ranksearch.pruning import make_pruner
from ranksearch.results import BASELINE_FAMILIES, Tables, candidate_trials, study_tables, write_outputs
from ranksearch.space import PAPER_RANKS, config_key, suggest_spec, uniform_params
from ranksearch.storage import embedded_url, load_study, open_study
from ranksearch.train import train

MAX_DUPLICATES_IN_A_ROW = 200


def baseline_spec(cfg: SearchConfig, splits: Splits, family: str) -> ModelSpec:
    """The reference network of ``family`` for the data: the paper's, or the paper's shape for any data."""
    if cfg.data.dataset in REFERENCE_NAMES:
        return reference_spec(cfg.data.dataset, family)
    return reference_spec_for_shape(splits.in_channels, splits.image_size, splits.num_classes, family)


def _describe(spec: ModelSpec) -> dict:
    counts = count_model(build_model(spec))
    return {"trainable_params": counts.trainable_params, "keras_params": counts.keras_params, "flops": counts.flops}


class Search:
    """One process's part of a study: its data, recipe and the objective it trains."""

    def __init__(self, study: optuna.Study, cfg: SearchConfig, splits: Splits, progress: Progress, out: Path | None) -> None:
        self.study, self.cfg, self.splits, self.progress, self.out = study, cfg, splits, progress, out
        self.template = baseline_spec(cfg, splits, "conv")
        self.pruner = make_pruner(cfg.pruner)
        self.duplicates_in_a_row = 0

    # -- budget ---------------------------------------------------------------------------
    # A candidate counts once it has started training (it then holds the user attribute "spec");
    # duplicates and surplus trials never get that far.
    def finished(self) -> int:
        return len(candidate_trials(self.study))

    def running(self, before: int | None = None) -> int:
        """Trials running now (in any worker), or only those numbered below ``before``."""
        return sum(
            1 for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if "duplicate_of" not in t.user_attrs and "surplus" not in t.user_attrs
            and (before is None or t.number < before)
        )

    # -- baselines and the paper's models -------------------------------------------------
    def ensure_baselines(self) -> None:
        """Train Conv2d and SeparableConv2d once per study, with the candidates' recipe and data."""
        for family in BASELINE_FAMILIES:
            key = f"baseline:{family}"
            if key in self.study.user_attrs:
                continue
            spec = baseline_spec(self.cfg, self.splits, family)
            info = _describe(spec)
            self.progress.line(f"baseline {family}: {info['trainable_params']:,} parameters, training {self.cfg.recipe.epochs} epochs")

            def on_epoch(epoch: int, acc: float) -> None:
                self.progress.update(f"baseline {family}  epoch {epoch}/{self.cfg.recipe.epochs}  val {acc:.4f}")

            result = train(spec, self.splits, self.cfg.recipe, seed=self.cfg.seed, device=self.cfg.device, on_epoch=on_epoch)
            self.study.set_user_attr(key, {
                "family": family, "spec": spec.to_dict(), **info, "val_curve": result.val_curve,
                "test_accuracy": result.test_accuracy, "seconds": result.seconds,
            })
            self.progress.line(
                f"baseline {family}: val {result.val_accuracy:.4f}  test {result.test_accuracy:.4f}  ({result.seconds:.0f}s)"
            )

    def enqueue_paper_models(self) -> None:
        if self.study.user_attrs.get("paper_models_enqueued"):
            return
        for rank in PAPER_RANKS:
            self.study.enqueue_trial(uniform_params(self.template, self.cfg.family, rank), skip_if_exists=True)
        self.study.set_user_attr("paper_models_enqueued", True)

    def requeue_interrupted(self) -> None:
        """Queue again candidates that failed (Ctrl-C, a crash) and were never finished or queued."""
        trials = self.study.get_trials(deepcopy=False)
        done = {t.user_attrs.get("config_key") for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)}
        queued = [t.params for t in trials if t.state in (TrialState.WAITING, TrialState.RUNNING)]
        requeued = set(self.study.user_attrs.get("requeued", []))
        for t in trials:
            # Interrupted before its first suggestion, an enqueued trial holds its parameters only as fixed_params.
            params = t.params or t.system_attrs.get("fixed_params") or {}
            if t.state != TrialState.FAIL or t.number in requeued or not params:
                continue
            if t.user_attrs.get("config_key") in done or params in queued:
                continue
            self.study.enqueue_trial(params)
            queued.append(params)
            requeued.add(t.number)
        self.study.set_user_attr("requeued", sorted(requeued))

    # -- the objective --------------------------------------------------------------------
    def objective(self, trial: optuna.Trial):
        if self.finished() + self.running(before=trial.number) >= self.cfg.budget:
            # Another worker took the last place in the budget between our check and this trial.
            trial.set_user_attr("surplus", True)
            raise optuna.TrialPruned("budget already filled by other workers")
        spec = suggest_spec(trial, self.template, self.cfg.family)
        key = config_key(spec)
        twin = self._trained_twin(key, trial.number)
        if twin is not None:
            trial.set_user_attr("duplicate_of", twin.number)
            self.duplicates_in_a_row += 1
            if twin.state == TrialState.COMPLETE:
                return twin.values
            raise optuna.TrialPruned()
        self.duplicates_in_a_row = 0
        info = _describe(spec)
        worker = f"{socket.gethostname()}:{os.getpid()}"
        for name, value in {"config_key": key, "family": self.cfg.family, "worker": worker, **info, "spec": spec.to_dict()}.items():
            trial.set_user_attr(name, value)
        curve: list[float] = []
        started = time.perf_counter()
        epochs = self.cfg.recipe.epochs

        def on_epoch(epoch: int, acc: float) -> None:
            curve.append(acc)
            trial.set_user_attr("val_curve", curve)
            trial.set_user_attr("seconds", time.perf_counter() - started)
            self.progress.update(
                f"{bar(self.finished(), self.cfg.budget)}  trial {trial.number}: {info['trainable_params']:,} params, "
                f"epoch {epoch}/{epochs}, val {acc:.4f}"
            )
            if epoch < epochs and self.pruner.prune(self.study, trial):
                raise optuna.TrialPruned(f"dominated at epoch {epoch}")

        result = train(spec, self.splits, self.cfg.recipe, seed=self.cfg.seed, device=self.cfg.device, on_epoch=on_epoch)
        trial.set_user_attr("test_accuracy", result.test_accuracy)  # reported only; never an objective
        trial.set_user_attr("seconds", result.seconds)
        return [result.val_accuracy] + [info[OBJECTIVES[o]] for o in self.cfg.objectives]

    def _trained_twin(self, key: str, number: int):
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)):
            if t.number != number and t.user_attrs.get("config_key") == key and "duplicate_of" not in t.user_attrs:
                return t
        return None

    # -- the loop -------------------------------------------------------------------------
    def on_trial_end(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if "spec" not in trial.user_attrs or trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            return
        a = trial.user_attrs
        tables = study_tables(study, self.cfg)
        hv = f"  hypervolume {tables.hypervolume:.3f}" if tables.baseline("conv") else ""
        acc = f"val {a['val_curve'][-1]:.4f}" if a.get("val_curve") else ""
        what = "COMPLETE" if trial.state == TrialState.COMPLETE else f"PRUNED at epoch {len(a.get('val_curve', []))}"
        self.progress.line(
            f"[{self.finished():>3}/{self.cfg.budget}] trial {trial.number:>3} {what:<19} {a['trainable_params']:>8,} params  "
            f"{acc}  {a.get('seconds', 0):.0f}s  front {len(tables.front)}{hv}"
        )
        if self.out is not None:
            write_outputs(tables, self.cfg, self.out)

    def optimize(self, started: float) -> str:
        """Train candidates until the budget is reached; return why it stopped."""
        while True:
            optuna.storages.fail_stale_trials(self.study)
            if self.finished() >= self.cfg.budget:
                return "budget reached"
            if self.finished() + self.running() >= self.cfg.budget:
                return "budget reached (last trials running in other workers)"
            if self.cfg.timeout is not None and time.monotonic() - started > self.cfg.timeout:
                return "timeout"
            if self.duplicates_in_a_row >= MAX_DUPLICATES_IN_A_ROW:
                return "search space exhausted (the sampler proposes only trained configurations)"
            self.study.optimize(self.objective, n_trials=1, callbacks=[self.on_trial_end], gc_after_trial=False)


def quiet_optuna() -> None:
    """ranksearch prints its own progress; Optuna's log would repeat it (with tracebacks on Ctrl-C)."""
    optuna.logging.set_verbosity(logging.ERROR)


def load_search_data(cfg: SearchConfig, progress: Progress) -> Splits:
    t0 = time.perf_counter()
    _, splits = load_splits(cfg.data)
    progress.line(
        f"data {cfg.data.dataset}: {len(splits.train_y):,} train / {len(splits.val_y):,} val / "
        f"{len(splits.test_y):,} test images ({time.perf_counter() - t0:.1f}s)"
    )
    return splits


@dataclass
class SearchOutcome:
    """What a finished (or stopped) search leaves: why it stopped, its tables, and where."""

    reason: str
    tables: Tables
    study: optuna.Study
    config: SearchConfig
    out: Path
    seconds: float


def run_search(cfg: SearchConfig, out: str | Path, progress: Progress) -> SearchOutcome:
    """Run (or continue) the search ``cfg`` describes, writing its results into ``out``."""
    quiet_optuna()
    out = Path(out)
    url = cfg.storage or embedded_url(out)
    # Read the data first: a bad dataset is refused before the storage is touched.
    splits = load_search_data(cfg, progress)
    if cfg.storage is None:
        out.mkdir(parents=True, exist_ok=True)
    study = open_study(cfg, url, cfg.seed, create=True)
    out.mkdir(parents=True, exist_ok=True)
    search = Search(study, cfg, splits, progress, out)
    progress.line(
        f"study {cfg.study_name} in {url}: {search.finished()}/{cfg.budget} candidates finished; "
        f"family {cfg.family}, {cfg.recipe.epochs} epochs, sampler {cfg.sampler}, pruner {cfg.pruner}"
    )
    started = time.monotonic()
    search.ensure_baselines()
    search.enqueue_paper_models()
    search.requeue_interrupted()
    try:
        reason = search.optimize(started)
    finally:
        write_outputs(study_tables(study, cfg), cfg, out)
    while search.running() > 0:
        progress.update(f"waiting for {search.running()} trial(s) running in other workers")
        time.sleep(5)
        optuna.storages.fail_stale_trials(study)
    tables = study_tables(study, cfg)
    write_outputs(tables, cfg, out)
    return SearchOutcome(reason, tables, study, cfg, out, time.monotonic() - started)


def run_worker(storage: str, study_name: str, progress: Progress, device: str = "auto", data_dir: str | None = None) -> str:
    """Join the study ``study_name`` in ``storage`` and train candidates until its budget is reached."""
    quiet_optuna()
    study, cfg = load_study(storage, study_name)
    cfg = replace(cfg, device=device, timeout=None)
    if data_dir:
        cfg = replace(cfg, data=replace(cfg.data, data_dir=data_dir))
    splits = load_search_data(cfg, progress)
    study = open_study(cfg, storage, None, create=False)
    search = Search(study, cfg, splits, progress, None)
    progress.line(f"worker {os.getpid()} joined study {cfg.study_name}: {search.finished()}/{cfg.budget} finished")
    reason = search.optimize(time.monotonic())
    progress.line(f"worker {os.getpid()}: {reason}")
    return reason
