"""The ``ranksearch`` command: flags -> config dataclasses -> the library; nothing below sees argparse."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

from ranksearch.errors import UserError

# The library (and torch with it) is imported inside the functions: a Ctrl-C during start-up is
# then one clean line, and --help is quick.


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage dump) and exits 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _fmt(n: int | float | None) -> str:
    return "" if n is None else f"{n:,}"


def _config(build, *args, **kwargs):
    """Build a config dataclass; its ValueError (naming the field) becomes the CLI's one-line error."""
    try:
        return build(*args, **kwargs)
    except ValueError as e:
        # "budget must be ..." -> "--budget must be ...": say it the way the user wrote it.
        raise UserError(re.sub(r"^([a-z]+(?:_[a-z]+)*) must", lambda m: f"--{m[1].replace('_', '-')} must", str(e))) from None


def _check_rank_flag(family: str, rank: int | None) -> None:
    from lightlayers import get_family

    if get_family("conv", family).takes_rank and rank is None:
        raise UserError(f"--family {family} needs --rank K (an integer >= 1)")
    if not get_family("conv", family).takes_rank and rank is not None:
        raise UserError(f"--family {family} takes no --rank; drop it or use a family with a rank")


def _device_type(device: str) -> str:
    from ranksearch.train import resolve_device

    return resolve_device(device).type


# -- summary ----------------------------------------------------------------------------------
def cmd_summary(args: argparse.Namespace) -> int:
    from lightlayers import build_model, count_model, reference_spec

    _check_rank_flag(args.family, args.rank)
    counts = count_model(build_model(_config(reference_spec, args.dataset, args.family, args.rank)))
    if args.json:
        print(json.dumps({"dataset": args.dataset, "family": args.family, "rank": args.rank, **counts.to_dict()}))
        return 0
    rank = f" k={args.rank}" if args.rank is not None else ""
    print(f"{args.dataset}, {args.family}{rank}")
    print(f"{'layer':<18} {'family':<9} {'rank':>4} {'params':>9} {'FLOPs':>12}")
    for row in counts.layers:
        print(f"{row.layer:<18} {row.family:<9} {row.rank or '':>4} {_fmt(row.params):>9} {_fmt(row.flops):>12}")
    bn = counts.trainable_params - sum(r.params for r in counts.layers)
    print(f"{'batch norms':<18} {'':<9} {'':>4} {_fmt(bn):>9} {'':>12}")
    print(f"{'total':<18} {'':<9} {'':>4} {_fmt(counts.trainable_params):>9} {_fmt(counts.flops):>12}")
    print(f"trainable parameters: {_fmt(counts.trainable_params)}")
    print(f"Keras-convention parameters (trainable + BatchNorm moving mean/var, as in the paper): {_fmt(counts.keras_params)}")
    print(f"FLOPs (multiply-accumulates per image): {_fmt(counts.flops)}")
    return 0


# -- train ------------------------------------------------------------------------------------
def train_config_from_args(args: argparse.Namespace) -> "TrainConfig":
    """--config first, then every flag given on the command line overrides it."""
    from ranksearch.config import DataConfig, TrainConfig, make_recipe

    device = _device_type(args.device)
    if args.config:
        cfg = _config(TrainConfig.load, args.config)
    elif args.dataset and args.family:
        data = _config(DataConfig, dataset=args.dataset)
        cfg = TrainConfig(None, data, _config(make_recipe, args.recipe or "fast", args.dataset, device=device))
    else:
        raise UserError("give --config FILE, or --dataset D and --family F (with --rank K for light or decef)")
    overrides = {k: getattr(args, k) for k in ("dataset", "data_dir", "train_subset", "val_fraction") if getattr(args, k) is not None}
    data = _config(replace, cfg.data, **overrides)
    recipe = cfg.recipe
    if args.recipe and (not args.config or args.recipe != recipe.name):
        recipe = _config(make_recipe, args.recipe, data.dataset, device=device)
    if args.epochs is not None:
        recipe = _config(replace, recipe, epochs=args.epochs)
    if args.precision is not None:
        recipe = _config(replace, recipe, precision=args.precision)
    seed = args.seed if args.seed is not None else cfg.seed
    return _config(TrainConfig, cfg.model, data, recipe, seed)


def cmd_train(args: argparse.Namespace) -> int:
    from ranksearch.point import train_point
    from ranksearch.progress import Progress

    cfg = train_config_from_args(args)
    if args.family is not None:
        _check_rank_flag(args.family, args.rank)
    result = train_point(cfg, Progress(), family=args.family, rank=args.rank, device=args.device, save=args.save)
    if args.json:
        print(json.dumps(result.summary))
    return 0


# -- run and worker ---------------------------------------------------------------------------
def search_config_from_args(args: argparse.Namespace) -> tuple["SearchConfig", Path]:
    """The search the flags describe, and its run folder."""
    from ranksearch.config import DataConfig, SearchConfig, make_recipe

    data = _config(DataConfig, dataset=args.dataset, data_dir=args.data_dir,
                   val_fraction=args.val_fraction if args.val_fraction is not None else 0.1, train_subset=args.train_subset)
    recipe = _config(make_recipe, args.recipe or "fast", args.dataset, args.epochs, _device_type(args.device))
    if args.precision is not None:
        recipe = _config(replace, recipe, precision=args.precision)
    name = args.study or f"{Path(args.dataset).name}-{args.family}"
    cfg = _config(
        SearchConfig, data=data, recipe=recipe, family=args.family, objectives=tuple(args.objectives.split(",")),
        budget=args.budget, seed=args.seed if args.seed is not None else 0, study_name=name, storage=args.storage,
        timeout=args.timeout, pruner=args.pruner, sampler=args.sampler, device=args.device,
    )
    return cfg, Path(args.out or Path("runs") / name)


def _jobs(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise UserError(f"--jobs must be auto or an integer >= 1, got {value!r}")
    return n


def cmd_run(args: argparse.Namespace) -> int:
    from ranksearch.progress import Progress
    from ranksearch.report import write_report
    from ranksearch.runner import run_search

    cfg, out = search_config_from_args(args)
    progress = Progress()
    outcome = run_search(cfg, out, progress, jobs=_jobs(args.jobs))
    front = outcome.tables.front
    progress.line(f"{outcome.reason} after {outcome.seconds:.0f}s; front of {len(front)} candidates (val accuracy, params):")
    for r in front:
        progress.line(f"  trial {r.number:>3}  {r.trainable_params:>8,} params  val {r.val_accuracy:.4f}  test {r.test_accuracy:.4f}")
    for b in outcome.tables.baselines:
        progress.line(f"  baseline {b.family:<9} {b.trainable_params:>8,} params  val {b.val_accuracy:.4f}  test {b.test_accuracy:.4f}")
    progress.line(f"results in {out}: trials.csv, front.json, config.json")
    progress.line(f"report: {write_report(outcome.tables, cfg, cfg.study_name, out, str(out))}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from ranksearch.progress import Progress
    from ranksearch.runner import run_worker

    progress = Progress()
    reason = run_worker(args.storage, args.study, progress, device=args.device, data_dir=args.data_dir, jobs=_jobs(args.jobs))
    progress.line(f"worker {os.getpid()}: {reason}")
    return 0


# -- report and export ------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    from ranksearch.report import rebuild_report

    print(f"report: {rebuild_report(args.run_dir, args.storage, args.study, args.out)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ranksearch.export import choose
    from ranksearch.results import point_config, study_tables
    from ranksearch.storage import open_run

    run = open_run(args.run_dir)
    tables = study_tables(run.study, run.config)
    row = choose(tables.candidates, tables.front, args.trial, args.max_params, args.max_flops)
    out = Path(args.output)
    try:
        out.write_text(json.dumps(point_config(row, run.config), indent=2) + "\n")
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}; choose another -o path") from None
    print(
        f"trial {row.number}: {row.trainable_params:,} parameters, {row.flops:,} FLOPs, "
        f"val {row.val_accuracy:.4f}, test {row.test_accuracy:.4f} -> {out}\n"
        f"train it: ranksearch train --config {out}"
    )
    return 0


# -- the parser -------------------------------------------------------------------------------
def _add_data_args(p: argparse.ArgumentParser, dataset_required: bool) -> None:
    from ranksearch.config import PRECISIONS

    p.add_argument("--dataset", required=dataset_required, help="mnist, fashion-mnist, cifar10, cifar100, or an image-folder path")
    p.add_argument("--data-dir", help="folder holding the datasets in torchvision's layout (default: a per-user cache folder)")
    p.add_argument("--train-subset", type=int, help="train on a stratified subset of N images (quick runs)")
    p.add_argument("--val-fraction", type=float, help="share of the training set held out for validation (default 0.1)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--recipe", choices=("fast", "paper"), help="training recipe (default fast)")
    p.add_argument("--precision", choices=PRECISIONS, help="bf16 autocast or fp32 (default: bf16 where the hardware computes it natively)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def build_parser() -> argparse.ArgumentParser:
    from lightlayers import REFERENCE_DATASETS, family_names
    from ranksearch.config import OBJECTIVES, PRECISIONS
    from ranksearch.pruning import PRUNERS
    from ranksearch.samplers import SAMPLERS
    from ranksearch.space import SPACES

    parser = _Parser(prog="ranksearch", description="Search how much rank each layer of a CNN really needs.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    conv_families = family_names("conv")

    p = sub.add_parser("summary", help="per-layer parameters and FLOPs of a reference network")
    p.add_argument("--dataset", required=True, choices=tuple(REFERENCE_DATASETS))
    p.add_argument("--family", required=True, choices=conv_families)
    p.add_argument("--rank", type=int, help="rank of every factorised layer (light, decef)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("train", help="train one configuration (a reference network or a --config file)")
    p.add_argument("--config", help="configuration JSON, e.g. from `ranksearch export`; flags override it")
    _add_data_args(p, dataset_required=False)
    p.add_argument("--family", choices=conv_families)
    p.add_argument("--rank", type=int)
    p.add_argument("--save", help="write weights and configuration here (loads with torch.load(weights_only=True))")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("run", help="search per-layer ranks with an Optuna study")
    _add_data_args(p, dataset_required=True)
    p.add_argument("--budget", type=int, required=True, help="finished candidates in total (complete + pruned)")
    p.add_argument("--family", default="light", help=f"the search space: {', '.join(SPACES)} (default light)")
    p.add_argument("--objectives", default="params", help="minimised beside validation accuracy: params, optionally with flops and latency (e.g. params,latency)")
    p.add_argument("--sampler", default="tpe", help=f"{', '.join(SAMPLERS)} (default tpe)")
    p.add_argument("--pruner", default="moasha", help=f"{', '.join(PRUNERS)} (default moasha)")
    p.add_argument("--out", help="run folder (default runs/<study name>)")
    p.add_argument("--storage", help="Optuna storage URL (default: study.db in the run folder)")
    p.add_argument("--study", help="study name (default: derived from dataset and family)")
    p.add_argument("--timeout", type=float, help="stop starting new trials after S seconds")
    p.add_argument("--jobs", default="auto", help="training processes on this machine, each with its share of the cores (default auto: one per core)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("worker", help="join a running study and train until its budget is reached")
    p.add_argument("--storage", required=True)
    p.add_argument("--study", required=True)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--data-dir", help="where this machine keeps the datasets (default: the run's)")
    p.add_argument("--jobs", default="auto", help="training processes on this machine (default auto: one per core)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("report", help="write report.html (Pareto plots) for a run")
    p.add_argument("run_dir", nargs="?", help="a run folder written by `ranksearch run`")
    p.add_argument("--storage")
    p.add_argument("--study")
    p.add_argument("--out", help="folder to write the report to (default: RUN_DIR)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="write a chosen point's configuration JSON")
    p.add_argument("run_dir")
    p.add_argument("--trial", type=int)
    p.add_argument("--max-params", type=int)
    p.add_argument("--max-flops", type=int)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ranksearch import signals

    signals.sigterm_as_interrupt()  # SIGTERM stops any command as Ctrl-C does
    command = "ranksearch"
    try:
        args = build_parser().parse_args(argv)
        command = f"ranksearch {args.command}"
        return args.func(args)
    except UserError as e:
        print(f"{command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        print(f"\n{command}: interrupted", file=sys.stderr)
        return e.exit_code if isinstance(e, signals.Interrupted) else 130


if __name__ == "__main__":
    sys.exit(main())
