"""The ``ranksearch`` command: flags -> the Python API (``ranksearch.api``); nothing below sees argparse.

Results go to stdout, progress and errors to stderr; exit codes as ``EXIT_CODES`` says.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from ranksearch import __version__
from ranksearch.errors import UserError, storage_failure

# The library (and torch with it) is imported inside the functions: a Ctrl-C during start-up is
# then one clean line, and --help and --version are quick.

ENVIRONMENT = """environment variables:
  RANKSEARCH_DATASETS  where the tests look for the real datasets (default ../shared/datasets)
  RANKSEARCH_CACHE     decoded datasets, the default --data-dir (its datasets/) (default $XDG_CACHE_HOME/ranksearch or ~/.cache/ranksearch)
  OMP_NUM_THREADS      threads of a single training process (run/worker --jobs sets them per job)
  PGPASSWORD           the PostgreSQL password of a --storage URL without one (or ~/.pgpass)"""
EXIT_CODES = """exit codes: 0 done, 1 a failure while running (storage, training job, full disk), 2 usage error or
bad input, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Results go to stdout, progress to stderr."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage dump) and exits 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Help(argparse.RawDescriptionHelpFormatter):
    """Epilogs keep their line breaks (examples)."""


def _fmt(n: int | float | None) -> str:
    return "" if n is None else f"{n:,}"


def _config(build, *args, **kwargs):
    """Build a config; its ValueError (naming the field) becomes the CLI's one-line error."""
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


def _jobs(value: str) -> int | str:
    if value == "auto":
        return value
    n = int(value) if value.isdecimal() else 0
    if n < 1:
        raise UserError(f"--jobs must be auto or an integer >= 1, got {value!r}")
    return n


# -- summary ----------------------------------------------------------------------------------
def cmd_summary_model(args: argparse.Namespace) -> int:
    """The replaceable layers of a user's network for a dataset's images, and each family's rank range."""
    from lightlayers import REFERENCE_DATASETS
    from lightlayers.factorize import replaceable_layers
    from lightlayers.network import NetworkSpec, check_outputs
    from ranksearch import api

    shape = REFERENCE_DATASETS[args.dataset]
    source = _config(api.network_source, args.model, args.model_args, args.weights)
    spec = _config(NetworkSpec, source["source"], shape["in_channels"], shape["image_size"], shape["num_classes"],
                   source["kwargs"], weights=source["weights"])
    _config(check_outputs, spec)
    model = _config(spec.base)
    layers = replaceable_layers(model, spec.input_shape)
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if args.json:
        print(json.dumps({"model": args.model, "dataset": args.dataset, "trainable_params": total, "layers": [
            {"path": l.path, "kind": l.kind, "in": l.shape.in_channels, "out": l.shape.out_channels,
             "kernel_size": l.shape.kernel_size, "stride": l.shape.stride, "params": l.params, "flops": l.flops, "ranks": l.ranks}
            for l in layers]}))
        return 0
    print(f"{args.model} on {args.dataset} images ({'x'.join(map(str, spec.input_shape))}, {spec.num_classes} classes): "
          f"{total:,} trainable parameters, {len(layers)} replaceable layers")
    print(f"{'layer':<28} {'shape':<20} {'params':>10} {'FLOPs':>13}  rank ranges")
    for l in layers:
        sh = l.shape
        what = f"{sh.kernel_size}x{sh.kernel_size} {sh.in_channels}->{sh.out_channels}" + (f" /{sh.stride}" if sh.stride > 1 else "") \
            if sh.kind == "conv" else f"dense {sh.in_channels}->{sh.out_channels}"
        ranges = ", ".join(f"{f} {r[0]}-{r[1]}" for f, r in l.ranks.items() if r is not None)
        print(f"{l.path:<28} {what:<20} {l.params:>10,} {l.flops:>13,}  {ranges}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from lightlayers import build_model, count_model, reference_spec

    if args.model is not None:
        return cmd_summary_model(args)
    if args.family is None:
        raise UserError("give --family F (with --rank K for light or decef), or --model SOURCE")
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
def cmd_train(args: argparse.Namespace) -> int:
    from ranksearch import api

    if args.family is not None:
        _check_rank_flag(args.family, args.rank)
    elif args.config is None and args.model is None:
        raise UserError("give --config FILE, or --dataset D with --family F (and --rank K) or --model SOURCE")
    settings = {k: getattr(args, k) for k in ("dataset", "data_dir", "train_subset", "val_fraction", "epochs", "recipe", "precision", "seed", "threads")}
    cfg = _config(api.train_config, args.config, device=args.device, **settings)
    result = _config(api.train, cfg, family=args.family, rank=args.rank, model=args.model, model_args=args.model_args,
                     weights=args.weights, save=args.save, device=args.device, input=args.input)
    if args.json:
        print(json.dumps(result.summary))
    return 0


# -- run and worker ---------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from ranksearch import api

    if args.config is None and (args.dataset is None or args.budget is None):
        raise UserError("give --dataset and --budget, or --config STUDY.json")
    cfg = _config(api.search_config, args.config, **{k: getattr(args, k) for k in api.SEARCH_SETTINGS})
    result = _config(api._search, cfg, out=args.out, jobs=_jobs(args.jobs))
    front = result.tables.front
    # The results on stdout first: a full disk (or a file we may not write) cannot take them away.
    print(f"{result.reason} after {result.seconds:.0f}s of this run; front of {len(front)} candidates:")
    for r in front:
        print(f"  trial {r.number:>3}  {r.trainable_params:>8,} params  val {r.val_accuracy:.4f}  test {r.test_accuracy:.4f}")
    for b in result.tables.baselines:
        print(f"  baseline {b.family:<9} {b.trainable_params:>8,} params  val {b.val_accuracy:.4f}  test {b.test_accuracy:.4f}")
    print()
    print("\n".join(result.verdict.lines()), flush=True)  # what to take and why
    report = result.write()  # the tables as the search left them, report.html and summary.json (the verdict)
    print(f"results in {result.folder}: trials.csv, front.json, config.json, summary.json, report {report}", file=sys.stderr)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from ranksearch.progress import Progress
    from ranksearch.lifecycle import run_worker

    progress = Progress()
    reason = run_worker(args.storage, args.study, progress, device=args.device, data_dir=args.data_dir, jobs=_jobs(args.jobs))
    print(f"worker {os.getpid()}: {reason}")
    return 0


# -- report and export ------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    from ranksearch.report import rebuild_report

    print(f"report: {rebuild_report(args.run_dir, args.storage, args.study, args.out)}")
    return 0


def _input_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", default="float", choices=("float", "uint8"),
                   help="what a network written as .onnx or .ts takes: float images normalised by the mean/std in its "
                        "metadata (default), or uint8 pixels 0-255, normalised inside the graph")


def cmd_export(args: argparse.Namespace) -> int:
    from ranksearch import api
    from ranksearch.atomic import make_parent
    from ranksearch.export_run import export_format
    from ranksearch.picks import more_accurate_note

    out = Path(args.output)
    make_parent(out)
    pick = dict(max_params=args.max_params, max_flops=args.max_flops, take=args.take, baseline=args.baseline)
    if export_format(out, args.format) != "config" or args.input != "float":  # the trained network as a file
        done = _config(api.export, args.run_dir, args.trial, **pick, to=out, format=args.format, input=args.input,
                       device=args.device)
        result = api.load(args.run_dir)
        row, lines = result.row(args.trial, **pick), done.lines()
    else:
        result = api.load(args.run_dir)
        row = result.row(args.trial, **pick)
        try:
            result.export(args.trial, **pick, to=out)
        except OSError as e:
            raise UserError(f"cannot write {out}: {e.strerror}; choose another -o path") from None
        lines = [f"{row.key}: {row.trainable_params:,} parameters, {row.flops:,} FLOPs, "
                 f"val {row.val_accuracy:.4f}, test {row.test_accuracy:.4f} -> {out}", f"train it: ranksearch train --config {out}"]
    if args.max_params is not None:
        note = more_accurate_note(result.tables, row, args.max_params, args.max_flops)
        lines += [note] if note else []
    print("\n".join(lines))
    return 0


# -- the parser -------------------------------------------------------------------------------
def _model_args(p: argparse.ArgumentParser, what: str, weights: str = "") -> None:
    p.add_argument("--model", help=f"a network: torchvision.models:resnet18, or path/to/file.py:ClassOrFunction; {what}")
    p.add_argument("--model-args", help='its arguments as JSON, e.g. \'{"width": 32}\' (num_classes is filled in from the data)')
    p.add_argument("--weights", help=f"its trained weights (a state_dict file, or a `ranksearch train --save` checkpoint){weights}")


def _data_args(p: argparse.ArgumentParser, defaults: dict) -> None:
    from ranksearch.config import PRECISIONS, RECIPE_NAMES

    p.add_argument("--dataset", help="mnist, fashion-mnist, cifar10, cifar100, or a folder with train/ and test/ class folders")
    p.add_argument("--data-dir", help="folder holding the datasets in torchvision's layout (default: $RANKSEARCH_CACHE/datasets)")
    p.add_argument("--train-subset", type=int, help="train on a stratified subset of N images (default: all)")
    p.add_argument("--val-fraction", type=float, help=f"share of the training set held out for validation (default {defaults['val_fraction']})")
    p.add_argument("--epochs", type=int, help="epochs per network (default: the recipe's, 10 for fast)")
    p.add_argument("--recipe", choices=RECIPE_NAMES, help="training recipe (default fast)")
    p.add_argument("--precision", choices=PRECISIONS, help="bf16 autocast or fp32 (default: bf16 where the hardware computes it natively)")
    p.add_argument("--seed", type=int, help="seed of initialisation, data order and sampler (default 0)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to train (default auto: cuda when present)")


def build_parser() -> argparse.ArgumentParser:
    from lightlayers import REFERENCE_DATASETS, family_names
    from ranksearch.api import setting_defaults
    from ranksearch.config import NETWORK_BASELINES
    from ranksearch.objectives import objective_names
    from ranksearch.pruners import PRUNERS
    from ranksearch.samplers import SAMPLERS
    from ranksearch.space import spaces

    D = setting_defaults()

    parser = _Parser(prog="ranksearch", description="Search how much rank each layer of a CNN really needs.",
                     epilog=f"{EXIT_CODES}\n\n{ENVIRONMENT}", formatter_class=_Help)
    parser.add_argument("--version", action="version", version=f"ranksearch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    conv_families = family_names("conv")

    p = sub.add_parser("summary", help="per-layer parameters and FLOPs of a reference network", formatter_class=_Help,
                       epilog="examples:\n  ranksearch summary --dataset cifar10 --family light --rank 3\n"
                              "  ranksearch summary --dataset mnist --family separable --json\n"
                              "  ranksearch summary --dataset cifar10 --model torchvision.models:resnet18")
    p.add_argument("--dataset", required=True, choices=tuple(REFERENCE_DATASETS), help="the paper's network for this dataset (or the image shape for --model)")
    p.add_argument("--family", choices=conv_families, help="layer family in every convolution")
    p.add_argument("--rank", type=int, help="rank of every factorised layer (light, decef; none for conv, separable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _model_args(p, "list its replaceable layers and their rank ranges instead")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("train", help="train one configuration (a reference network or an exported point)", formatter_class=_Help,
                       epilog="examples:\n  ranksearch train --config point.json --epochs 30 --save point.pt\n"
                              "  ranksearch train --dataset fashion-mnist --data-dir ../shared/datasets --family light --rank 3\n"
                              f"\n{ENVIRONMENT}")
    p.add_argument("--config", help="point configuration JSON, e.g. from `ranksearch export`; flags override it")
    _data_args(p, D)
    p.add_argument("--family", choices=conv_families, help="train the paper's network of this family instead of --config's model")
    p.add_argument("--rank", type=int, help="rank for --family light or decef")
    _model_args(p, "train this network unmodified (e.g. to get weights for `run --weights`)",
                "; with a --config of your own network, where its trained base network is now")
    p.add_argument("--threads", type=int, help="CPU threads to train with (default: the configuration's, else every core); "
                                               "a search point's figures reproduce with the thread count it trained with")
    p.add_argument("--save", help="write the trained network here, as its suffix says: .onnx ONNX, .ts TorchScript, "
                                  ".json the configuration, else (.pt) weights, configuration and preprocessing "
                                  "(ranksearch.load_model reads it)")
    _input_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (accuracies, parameters, seconds) on stdout")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("run", help="search per-layer ranks with an Optuna study", formatter_class=_Help,
                       epilog="examples:\n  ranksearch run --dataset cifar10 --data-dir ../shared/datasets --budget 50\n"
                              "  ranksearch run --dataset fashion-mnist --data-dir ../shared/datasets --budget 50 --epochs 5 --family decef\n"
                              "  ranksearch run --config studies/fashion-mnist-light/config.json\n"
                              "  ranksearch run --dataset cifar10 --budget 200 --storage postgresql://user@host/db --study c10\n"
                              f"\nRerunning the same command continues the study; Ctrl-C is safe.\n\n{EXIT_CODES}\n\n{ENVIRONMENT}")
    p.add_argument("--config", help="a search configuration (a run's config.json or a study file in studies/); flags override it")
    _data_args(p, D)
    p.add_argument("--budget", type=int, help="finished candidates in total, complete or pruned (required without --config)")
    p.add_argument("--family", help=f"the search space: {', '.join(spaces())} (default {D['family']})")
    p.add_argument("--objectives", help=f"minimised beside validation accuracy: params, optionally with "
                                        f"{' and '.join(o for o in objective_names() if o != 'params')} (default {D['objectives']})")
    p.add_argument("--sampler", help=f"NAME or NAME:key=value,...: {SAMPLERS.help()} (default {D['sampler']})")
    p.add_argument("--pruner", help=f"NAME or NAME:key=value,...: {PRUNERS.help()} (default {D['pruner']})")
    p.add_argument("--start", choices=("parent", "scratch"),
                   help="parent: train the dense network once, then every candidate inherits its weights (factorised "
                        "layer by layer) and fine-tunes; scratch: every network trains from scratch (default parent)")
    p.add_argument("--finetune-epochs", type=int, help="epochs a candidate fine-tunes under --start parent "
                                                         "(default: a third of --epochs, at least 1)")
    p.add_argument("--baselines", help=f"networks a user could take without the search, trained the fair way: conv, "
                                       f"separable, or either at a width multiplier (conv@0.5) (default {D['baselines']}; "
                                       f"{','.join(NETWORK_BASELINES)} for --model)")
    p.add_argument("--confirm-seeds", type=int, help=f"after the search, train the networks the verdict names again with "
                                                        f"this many more seeds; 0 turns it off (default {D['confirm_seeds']})")
    p.add_argument("--warm-start", action=argparse.BooleanOptionalAction, default=None,
                   help="queue candidates read off the trained dense network's effective ranks (default: on)")
    p.add_argument("--warm-shares", help=f"warm starts allocated at these shares of the trained network's parameters, in this order (default {D['warm_shares']})")
    p.add_argument("--jobs", default="auto", help="training processes on this machine, each with its share of the cores (default auto: one per core)")
    p.add_argument("--out", help="run folder (default runs/<study name>)")
    p.add_argument("--storage", help="Optuna storage URL shared by several processes or machines (default: study.db in the run "
                                     "folder); a password is best given by PGPASSWORD or ~/.pgpass, and is never stored")
    p.add_argument("--study", help="study name (default <dataset>-<family>)")
    p.add_argument("--timeout", type=float, help="stop starting new candidates after S seconds (default: none)")
    _model_args(p, "search the layers of this network instead of the paper's reference network")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("worker", help="join a running study and train until its budget is reached", formatter_class=_Help,
                       epilog="example:\n  ranksearch worker --storage postgresql://user@host/db --study c10 --jobs 4\n"
                              f"\n{EXIT_CODES}\n\n{ENVIRONMENT}")
    p.add_argument("--storage", required=True, help="the storage URL the run used")
    p.add_argument("--study", required=True, help="the study name the run used")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to train (default auto)")
    p.add_argument("--data-dir", help="where this machine keeps the datasets (default: the run's)")
    p.add_argument("--jobs", default="auto", help="training processes on this machine (default auto: one per core)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("report", help="write report.html (Pareto plots and a verdict) for a run", formatter_class=_Help,
                       epilog="examples:\n  ranksearch report runs/cifar10-all\n"
                              "  ranksearch report --storage postgresql://user@host/db --study c10 --out c10-report")
    p.add_argument("run_dir", nargs="?", help="a run folder written by `ranksearch run` (only report.html and summary.json, the verdict, are written into it)")
    p.add_argument("--storage", help="read the study from this storage URL instead of a run folder")
    p.add_argument("--study", help="the study name, with --storage")
    p.add_argument("--out", help="folder to write the report (and, for a study read by URL, its CSV and JSON) to (default: RUN_DIR)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="write a chosen point's configuration, or the trained network (ONNX, TorchScript, checkpoint)",
                       formatter_class=_Help,
                       epilog="examples:\n  ranksearch export runs/cifar10-all --max-params 20000 -o point.json\n"
                              "  ranksearch export runs/cifar10-all --take -o point.json\n"
                              "then: ranksearch train --config point.json --epochs 30\n"
                              "the trained network as a file (trained first unless the run folder kept its weights):\n"
                              "  ranksearch export runs/cifar10-all --max-params 20000 -o model.onnx\n"
                              "  ranksearch export runs/cifar10-all --trial 17 --format torchscript -o model.ts")
    p.add_argument("run_dir", help="a run folder written by `ranksearch run`")
    p.add_argument("--trial", type=int, help="the candidate with this trial number (trials.csv's number column)")
    p.add_argument("--max-params", type=int, help="the most accurate front member with at most this many trainable parameters "
                   "(a baseline more accurate within them is named)")
    p.add_argument("--max-flops", type=int, help="and at most this many FLOPs (with --max-params)")
    p.add_argument("--take", action="store_true", help="exactly the network the verdict takes (summary.json's take)")
    p.add_argument("--baseline", help="a baseline by name (conv, separable, conv@0.5, ...), or parent")
    p.add_argument("-o", "--output", required=True, help="the file to write")
    p.add_argument("--format", choices=("config", "onnx", "torchscript", "checkpoint"),
                   help="config: the configuration JSON (nothing trains); onnx, torchscript, checkpoint: the trained network, "
                        "trained first with its recorded configuration unless the run folder kept its weights "
                        "(default: from -o's suffix, .onnx or .ts, else config)")
    _input_arg(p)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to train it (default auto)")
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
    except Exception as e:
        failure = storage_failure(e)
        if failure is None:
            raise
        print(f"{command}: error: {failure}", file=sys.stderr)
        return failure.exit_code


if __name__ == "__main__":
    sys.exit(main())
