"""``ranksearch export``: write one chosen point's configuration JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ranksearch.errors import UserError
from ranksearch.results import point_config, study_tables
from ranksearch.rundir import open_run


def choose(candidates, front, trial: int | None, max_params: int | None, max_flops: int | None):
    """The row for ``--trial``, or the most accurate front member within the limits."""
    if trial is not None:
        for r in candidates:
            if r["number"] == trial:
                if r["state"] != "COMPLETE":
                    raise UserError(f"trial {trial} was pruned at epoch {r['pruned_at_epoch']}; choose a complete trial")
                return r
        raise UserError(f"no finished candidate numbered {trial}; see the number column of trials.csv")
    fits = [
        r for r in front
        if r["trainable_params"] <= max_params and (max_flops is None or r["flops"] <= max_flops)
    ]
    if not fits:
        smallest = min(front, key=lambda r: r["trainable_params"]) if front else None
        hint = f"; the smallest front member has {smallest['trainable_params']:,} parameters and {smallest['flops']:,} FLOPs" if smallest else ""
        raise UserError(f"no front member within {max_params:,} parameters" + (f" and {max_flops:,} FLOPs" if max_flops else "") + hint)
    return max(fits, key=lambda r: (r["val_accuracy"], -r["trainable_params"]))


def export_command(args: argparse.Namespace) -> int:
    if (args.trial is None) == (args.max_params is None):
        raise UserError("give exactly one of --trial N or --max-params P")
    if args.max_flops is not None and args.max_params is None:
        raise UserError("--max-flops goes with --max-params")
    study, cfg = open_run(args.run_dir)
    candidates, _, front = study_tables(study, cfg)
    row = choose(candidates, front, args.trial, args.max_params, args.max_flops)
    out = Path(args.output)
    out.write_text(json.dumps(point_config(row, cfg), indent=2) + "\n")
    print(
        f"trial {row['number']}: {row['trainable_params']:,} parameters, {row['flops']:,} FLOPs, "
        f"val {row['val_accuracy']:.4f}, test {row['test_accuracy']:.4f} -> {out}\n"
        f"train it: ranksearch train --config {out}"
    )
    return 0
