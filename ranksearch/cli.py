"""The ``ranksearch`` command: flags -> the Python API (``ranksearch.api``); nothing below sees argparse.

Results go to stdout, progress and errors to stderr; exit codes as ``ranksearch.flags.EXIT_CODES`` says.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from ranksearch.errors import UserError, storage_failure
from ranksearch.flags import build_parser

# The library (and torch with it) is imported inside the functions: a Ctrl-C during start-up is
# then one clean line, and --help and --version are quick.


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
    cfg = _config(api.train_config, args.config, **{k: getattr(args, k) for k in api.TRAIN_SETTINGS})
    result = _config(api.train, cfg, family=args.family, rank=args.rank, model=args.model, model_args=args.model_args,
                     weights=args.weights, save=args.save, device=args.device, input=args.input)
    s = result.summary  # the result on stdout, as every command's (progress went to stderr)
    print(json.dumps(s) if args.json else f"{s['trainable_params']:,} parameters, {s['flops']:,} FLOPs, val "
          f"{s['val_accuracy']:.4f}, test {s['test_accuracy']:.4f}" + (f" -> {args.save}" if args.save else ""))
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
    print(f"{result.reason}; this run took {result.seconds:.0f}s in all (the search, then any confirmation); front of {len(front)} candidates:")
    from ranksearch.labels import acc

    rows = [(f"trial {r.number:>3}", r) for r in front] + [(f"baseline {b.family}", b) for b in result.tables.baselines]
    width = max((len(label) for label, _ in rows), default=0)
    for label, r in rows:
        print(f"  {label:<{width}}  {r.trainable_params:>8,} params  val {acc(r.val_accuracy)}  test {acc(r.test_accuracy)}")
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


def cmd_export(args: argparse.Namespace) -> int:
    from ranksearch import api
    from ranksearch.atomic import check_parent
    from ranksearch.export_run import export_format
    from ranksearch.picks import more_accurate_note
    from ranksearch.verdict import on_mean

    out = Path(args.output)
    check_parent(out)  # made when the file is written
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
        seeds = ""
        if row.seeds:  # confirmed: the verdict judged its mean
            mean = on_mean(row)
            seeds = f" (over {len(row.seeds)} seeds, as the verdict says: val {mean.val_accuracy:.4f}, test {mean.test_accuracy:.4f})"
        lines = [f"{row.key}: {row.trainable_params:,} parameters, {row.flops:,} FLOPs, "
                 f"val {row.val_accuracy:.4f}, test {row.test_accuracy:.4f}{seeds} -> {out}",
                 f"train it: ranksearch train --config {out}"]
        if args.format is None and out.suffix.lower() in (".pt", ".pth"):  # what `train --save x.pt` writes is a checkpoint
            lines.append(f"note: {out} holds the configuration as JSON, nothing trained; --format checkpoint writes the "
                         "trained network")
    if args.max_params is not None:
        note = more_accurate_note(result.tables, row, args.max_params, args.max_flops)
        lines += [note] if note else []
    print("\n".join(lines))
    return 0


COMMANDS = {"summary": cmd_summary, "train": cmd_train, "run": cmd_run, "worker": cmd_worker, "report": cmd_report,
            "export": cmd_export}


def main(argv: list[str] | None = None) -> int:
    from ranksearch import signals

    signals.sigterm_as_interrupt()  # SIGTERM stops any command as Ctrl-C does
    command = "ranksearch"
    try:
        args, unknown = build_parser().parse_known_args(argv)
        if unknown:
            args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        command = f"ranksearch {args.command}"
        return COMMANDS[args.command](args)
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
