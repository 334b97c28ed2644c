"""The rank search: storage, study, baselines, the objective, and the loop every worker runs.

Flow: ``run`` resolves a SearchConfig, opens (or creates, or checks) the study, trains the
Conv2d and SeparableConv2d baselines once, enqueues the paper's uniform-rank models, then
trains candidates until the budget of finished (complete + pruned) candidates is reached.
``worker`` joins a study by storage URL and name and runs the same loop.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import time
import warnings
from dataclasses import replace
from pathlib import Path

import optuna
from optuna.trial import TrialState

from lightlayers import build_model, count_model, reference_spec, reference_spec_for_shape

from ranksearch.config import DataConfig, SearchConfig, TrainConfig, make_recipe
from ranksearch.data import REFERENCE_NAMES, Splits, load_splits
from ranksearch.errors import UserError
from ranksearch.progress import Progress, bar
from ranksearch.pruning import ParetoPruner
from ranksearch.results import BASELINE_FAMILIES, hypervolume, study_tables, write_outputs
from ranksearch.space import PAPER_RANKS, SEARCH_FAMILIES, config_key, suggest_spec, uniform_params
from ranksearch.train import resolve_device, train

SAMPLERS = ("tpe", "nsga2", "random")
OBJECTIVES = {"params": ("params",), "params,flops": ("params", "flops")}
CONFIG_ATTR = "ranksearch_config"
# What makes two runs the same study: changing any of these would mix incomparable trials.
SIGNATURE_FIELDS = ("family", "objectives")
MAX_DUPLICATES_IN_A_ROW = 200
HEARTBEAT_SECONDS = 30

# Heartbeats, retry callbacks and metric names are marked experimental; we rely on them knowingly.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def signature(cfg: SearchConfig) -> dict:
    data = {k: v for k, v in cfg.to_dict()["data"].items() if k != "data_dir"}
    return {"data": data, "recipe": cfg.to_dict()["recipe"], "seed": cfg.seed, **{k: cfg.to_dict()[k] for k in SIGNATURE_FIELDS}}


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An RDB storage with heartbeats, so a crashed worker's trial is failed and retried."""
    callback_cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    kwargs = {"heartbeat_interval": HEARTBEAT_SECONDS, "grace_period": 3 * HEARTBEAT_SECONDS}
    if callback_cls is not None:
        kwargs["heartbeat_stale_trial_callback"] = callback_cls(max_retry=3)
    else:  # optuna < 4.x
        kwargs["failed_trial_callback"] = optuna.storages.RetryFailedTrialCallback(max_retry=3)
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    if not url.startswith(("sqlite://", "postgresql", "mysql")):
        raise UserError(f"--storage {url!r}: expected an Optuna RDB URL such as sqlite:///study.db or postgresql://user@host/db")
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine, **kwargs)
    except Exception as e:  # sqlalchemy's errors name the cause in their first line
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "DB access module" in reason:
            reason = "its database driver is not installed (for PostgreSQL: pip install 'ranksearch[postgres]')"
        raise UserError(f"cannot open storage {url}: {reason}; check the URL, that the server runs and accepts you") from None


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=10, multivariate=True)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=10)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise UserError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")


def template_spec(cfg: SearchConfig, splits: Splits):
    if cfg.data.dataset in REFERENCE_NAMES:
        return reference_spec(cfg.data.dataset, "conv")
    return reference_spec_for_shape(splits.in_channels, splits.image_size, splits.num_classes, "conv")


def baseline_spec(cfg: SearchConfig, splits: Splits, family: str):
    if cfg.data.dataset in REFERENCE_NAMES:
        return reference_spec(cfg.data.dataset, family)
    return reference_spec_for_shape(splits.in_channels, splits.image_size, splits.num_classes, family)


def _describe(spec) -> dict:
    counts = count_model(build_model(spec))
    return {"trainable_params": counts.trainable_params, "keras_params": counts.keras_params, "flops": counts.flops}


class Search:
    """One process's part of a study: its data, recipe and the objective it trains."""

    def __init__(self, study: optuna.Study, cfg: SearchConfig, splits: Splits, progress: Progress) -> None:
        self.study, self.cfg, self.splits, self.progress = study, cfg, splits, progress
        self.template = template_spec(cfg, splits)
        self.pruner = ParetoPruner() if cfg.pruning else None
        self.duplicates_in_a_row = 0

    # -- budget ---------------------------------------------------------------------------
    # A candidate counts once it has started training (it then holds the user attribute "spec");
    # duplicates and surplus trials never get that far.
    def finished(self) -> int:
        return sum(
            1 for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
            if "spec" in t.user_attrs
        )

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
            curve: list[float] = []

            def on_epoch(epoch: int, acc: float) -> None:
                curve.append(acc)
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
            if self.pruner is not None and epoch < epochs and self.pruner.prune(self.study, trial):
                raise optuna.TrialPruned(f"dominated at epoch {epoch}")

        result = train(spec, self.splits, self.cfg.recipe, seed=self.cfg.seed, device=self.cfg.device, on_epoch=on_epoch)
        trial.set_user_attr("test_accuracy", result.test_accuracy)  # reported only; never an objective
        trial.set_user_attr("seconds", result.seconds)
        values = [result.val_accuracy, info["trainable_params"]]
        if "flops" in self.cfg.objectives:
            values.append(info["flops"])
        return values

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
        candidates, baselines, front = study_tables(study, self.cfg)
        conv = next((b for b in baselines if b["family"] == "conv"), None)
        hv = f"  hypervolume {hypervolume(candidates, conv['trainable_params']):.3f}" if conv else ""
        acc = f"val {a['val_curve'][-1]:.4f}" if a.get("val_curve") else ""
        what = "COMPLETE" if trial.state == TrialState.COMPLETE else f"PRUNED at epoch {len(a.get('val_curve', []))}"
        self.progress.line(
            f"[{self.finished():>3}/{self.cfg.budget}] trial {trial.number:>3} {what:<19} {a['trainable_params']:>8,} params  "
            f"{acc}  {a.get('seconds', 0):.0f}s  front {len(front)}{hv}"
        )
        if self.cfg.out:
            write_outputs(study, self.cfg, self.cfg.out)

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


def _quiet_optuna() -> None:
    """ranksearch prints its own progress; Optuna's log would repeat it (with tracebacks on Ctrl-C)."""
    optuna.logging.set_verbosity(logging.ERROR)


def resolve_search_config(args: argparse.Namespace) -> SearchConfig:
    if args.budget < 1:
        raise UserError(f"--budget must be >= 1 (finished candidates), got {args.budget}")
    if args.family not in SEARCH_FAMILIES:
        raise UserError(f"unknown --family {args.family!r}; choose one of {', '.join(SEARCH_FAMILIES)}")
    if args.objectives not in OBJECTIVES:
        raise UserError(f"unknown --objectives {args.objectives!r}; choose params or params,flops")
    if args.sampler not in SAMPLERS:
        raise UserError(f"unknown --sampler {args.sampler!r}; choose one of {', '.join(SAMPLERS)}")
    data = DataConfig(
        args.dataset, args.data_dir, args.val_fraction if args.val_fraction is not None else 0.1, args.train_subset
    )
    recipe = make_recipe(args.recipe or "fast", args.dataset, args.epochs, resolve_device(args.device).type)
    name = args.study or f"{Path(args.dataset).name}-{args.family}"
    out = args.out or str(Path("runs") / name)
    storage = args.storage or f"sqlite:///{Path(out).resolve() / 'study.db'}"
    return SearchConfig(
        data=data, recipe=recipe, family=args.family, objectives=OBJECTIVES[args.objectives], budget=args.budget,
        seed=args.seed if args.seed is not None else 0, study_name=name, storage=storage, out=out,
        timeout=args.timeout, pruning=not args.no_pruning, sampler=args.sampler, device=args.device,
    )


def open_study(cfg: SearchConfig, sampler_seed: int | None, create: bool) -> optuna.Study:
    """Load the study, or create it; refuse one created for another dataset, space or recipe.

    The check happens before anything is written, so a refused command leaves the storage as it was.
    """
    storage = open_storage(cfg.storage)
    sampler = make_sampler(cfg.sampler, sampler_seed)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    if cfg.study_name in names:
        study = optuna.load_study(study_name=cfg.study_name, storage=storage, sampler=sampler)
        saved = study.user_attrs.get(CONFIG_ATTR)
        if saved is None:
            raise UserError(f"study {cfg.study_name!r} in {cfg.storage} was not made by ranksearch; choose another --study")
        old = SearchConfig.from_dict(saved)
        if signature(old) != signature(cfg):
            diff = [k for k in signature(cfg) if signature(cfg)[k] != signature(old)[k]]
            raise UserError(
                f"study {cfg.study_name!r} was created for dataset {old.data.dataset}, family {old.family}, "
                f"{old.recipe.epochs} epochs ({', '.join(diff)} differ); rerun with the same settings, "
                "or give a new --study / --out"
            )
        return study
    if not create:
        raise UserError(f"no study {cfg.study_name!r} in {cfg.storage}; start one with `ranksearch run`")
    directions = ["maximize", "minimize"] + (["minimize"] if "flops" in cfg.objectives else [])
    study = optuna.create_study(study_name=cfg.study_name, storage=storage, sampler=sampler, directions=directions)
    study.set_metric_names(["val_accuracy", "trainable_params"] + (["flops"] if "flops" in cfg.objectives else []))
    stored = cfg.to_dict()
    stored["data"]["data_dir"] = cfg.data.data_dir
    study.set_user_attr(CONFIG_ATTR, stored)
    return study


def _load_data(cfg: SearchConfig, progress: Progress) -> Splits:
    t0 = time.perf_counter()
    _, splits = load_splits(cfg.data)
    progress.line(
        f"data {cfg.data.dataset}: {len(splits.train_y):,} train / {len(splits.val_y):,} val / "
        f"{len(splits.test_y):,} test images ({time.perf_counter() - t0:.1f}s)"
    )
    return splits


def run_command(args: argparse.Namespace) -> int:
    _quiet_optuna()
    cfg = resolve_search_config(args)
    progress = Progress()
    # Read the data first: a bad dataset is refused before the storage is touched.
    splits = _load_data(cfg, progress)
    if cfg.storage.startswith("sqlite:///"):
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
    study = open_study(cfg, cfg.seed, create=True)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    search = Search(study, cfg, splits, progress)
    progress.line(
        f"study {cfg.study_name} in {cfg.storage}: {search.finished()}/{cfg.budget} candidates finished; "
        f"family {cfg.family}, {cfg.recipe.epochs} epochs, sampler {cfg.sampler}, pruning {'on' if cfg.pruning else 'off'}"
    )
    started = time.monotonic()
    search.ensure_baselines()
    search.enqueue_paper_models()
    search.requeue_interrupted()
    try:
        reason = search.optimize(started)
    finally:
        write_outputs(study, cfg, cfg.out)
    _wait_for_other_workers(search, progress)
    tables = write_outputs(study, cfg, cfg.out)
    _finish(study, cfg, tables, reason, progress, time.monotonic() - started)
    return 0


def _wait_for_other_workers(search: Search, progress: Progress) -> None:
    while search.running() > 0:
        progress.update(f"waiting for {search.running()} trial(s) running in other workers")
        time.sleep(5)
        optuna.storages.fail_stale_trials(search.study)


def _finish(study: optuna.Study, cfg: SearchConfig, tables: dict, reason: str, progress: Progress, seconds: float) -> None:
    front = tables["front"]
    progress.line(f"{reason} after {seconds:.0f}s; front of {len(front)} candidates (val accuracy, params):")
    for r in front:
        progress.line(f"  trial {r['number']:>3}  {r['trainable_params']:>8,} params  val {r['val_accuracy']:.4f}  test {r['test_accuracy']:.4f}")
    for b in tables["baselines"]:
        progress.line(f"  baseline {b['family']:<9} {b['trainable_params']:>8,} params  val {b['val_accuracy']:.4f}  test {b['test_accuracy']:.4f}")
    progress.line(f"results in {cfg.out}: trials.csv, front.json, config.json")
    from ranksearch.report import write_report  # here, not at the top: report imports this module

    progress.line(f"report: {write_report(study, cfg, cfg.out)}")


def worker_command(args: argparse.Namespace) -> int:
    _quiet_optuna()
    storage = open_storage(args.storage)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    if args.study not in names:
        raise UserError(f"no study {args.study!r} in {args.storage}; start it with `ranksearch run --storage ... --study ...`")
    saved = optuna.load_study(study_name=args.study, storage=storage).user_attrs.get(CONFIG_ATTR)
    if saved is None:
        raise UserError(f"study {args.study!r} was not made by ranksearch")
    cfg = SearchConfig.from_dict(saved)
    cfg = replace(cfg, storage=args.storage, device=args.device, out="", timeout=None)
    if args.data_dir:
        cfg.data.data_dir = args.data_dir
    progress = Progress()
    splits = _load_data(cfg, progress)
    study = open_study(cfg, None, create=False)
    search = Search(study, cfg, splits, progress)
    progress.line(f"worker {os.getpid()} joined study {cfg.study_name}: {search.finished()}/{cfg.budget} finished")
    reason = search.optimize(time.monotonic())
    progress.line(f"worker {os.getpid()}: {reason}")
    return 0
