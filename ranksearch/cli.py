"""The ``ranksearch`` command: summary, train, run, worker, report, export."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ranksearch.errors import UserError

DATASETS = ("mnist", "fashion-mnist", "cifar10", "cifar100")
FAMILIES = ("conv", "separable", "light", "decef")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage dump) and exits 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _fmt(n: int | float | None) -> str:
    return "" if n is None else f"{n:,}"


def _spec_from_args(dataset: str, family: str, rank: int | None, shape=None):
    from lightlayers import reference_spec, reference_spec_for_shape

    if family in ("light", "decef") and rank is None:
        raise UserError(f"--family {family} needs --rank K (an integer >= 1)")
    if family in ("conv", "separable") and rank is not None:
        raise UserError(f"--family {family} takes no --rank; drop it or use --family light or decef")
    try:
        if shape is None:
            return reference_spec(dataset, family, rank)
        return reference_spec_for_shape(*shape, family, rank)
    except ValueError as e:
        raise UserError(str(e)) from None


def cmd_summary(args: argparse.Namespace) -> int:
    from lightlayers import build_model, count_model

    try:
        counts = count_model(build_model(_spec_from_args(args.dataset, args.family, args.rank)))
    except ValueError as e:
        raise UserError(str(e)) from None
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


def _add_data_args(p: argparse.ArgumentParser, dataset_required: bool) -> None:
    p.add_argument("--dataset", required=dataset_required, help="mnist, fashion-mnist, cifar10, cifar100, or an image-folder path")
    p.add_argument("--data-dir", help="folder holding the datasets in torchvision's layout (default: a per-user cache folder)")
    p.add_argument("--train-subset", type=int, help="train on a stratified subset of N images (quick runs)")
    p.add_argument("--val-fraction", type=float, help="share of the training set held out for validation (default 0.1)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--recipe", choices=("fast", "paper"), help="training recipe (default fast)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def cmd_train(args: argparse.Namespace) -> int:
    from ranksearch.trainer_cli import run_train

    return run_train(args)


def cmd_run(args: argparse.Namespace) -> int:
    from ranksearch.study import run_command

    return run_command(args)


def cmd_worker(args: argparse.Namespace) -> int:
    from ranksearch.study import worker_command

    return worker_command(args)


def cmd_report(args: argparse.Namespace) -> int:
    from ranksearch.report import report_command

    return report_command(args)


def cmd_export(args: argparse.Namespace) -> int:
    from ranksearch.export import export_command

    return export_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ranksearch", description="Search how much rank each layer of a CNN really needs.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("summary", help="per-layer parameters and FLOPs of a reference network")
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--family", required=True, choices=FAMILIES)
    p.add_argument("--rank", type=int, help="rank of every LightConv2d / DeCEFConv2d (light, decef)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("train", help="train one configuration (a reference network or a --config file)")
    p.add_argument("--config", help="configuration JSON, e.g. from `ranksearch export`; flags override it")
    _add_data_args(p, dataset_required=False)
    p.add_argument("--family", choices=FAMILIES)
    p.add_argument("--rank", type=int)
    p.add_argument("--save", help="write weights and configuration here (loads with torch.load(weights_only=True))")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("run", help="search per-layer ranks with an Optuna study")
    _add_data_args(p, dataset_required=True)
    p.add_argument("--budget", type=int, required=True, help="finished candidates in total (complete + pruned)")
    p.add_argument("--family", default="light", help="light, decef or mixed (default light)")
    p.add_argument("--objectives", default="params", help="params, or params,flops (accuracy is always maximised)")
    p.add_argument("--sampler", default="tpe", help="tpe, nsga2 or random (default tpe)")
    p.add_argument("--out", help="run folder (default runs/<study name>)")
    p.add_argument("--storage", help="Optuna storage URL (default: an SQLite file in --out)")
    p.add_argument("--study", help="study name (default: derived from dataset and family)")
    p.add_argument("--timeout", type=float, help="stop starting new trials after S seconds")
    p.add_argument("--no-pruning", action="store_true", help="train every candidate for all epochs")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("worker", help="join a running study and train until its budget is reached")
    p.add_argument("--storage", required=True)
    p.add_argument("--study", required=True)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--data-dir", help="where this machine keeps the datasets (default: the run's)")
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
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"ranksearch {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nranksearch {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
