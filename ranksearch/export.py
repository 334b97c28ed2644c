"""``ranksearch export``: choose one point of a run and write its configuration JSON."""

from __future__ import annotations

from ranksearch.errors import UserError
from ranksearch.results import Row


def choose(candidates: list[Row], front: list[Row], trial: int | None, max_params: int | None, max_flops: int | None) -> Row:
    """The row for ``trial``, or the most accurate front member within the limits."""
    if (trial is None) == (max_params is None):
        raise UserError("give exactly one of --trial N or --max-params P")
    if max_flops is not None and max_params is None:
        raise UserError("--max-flops goes with --max-params")
    if trial is not None:
        for r in candidates:
            if r.number == trial:
                if r.state != "COMPLETE":
                    raise UserError(f"trial {trial} was pruned at epoch {r.pruned_at_epoch}; choose a complete trial")
                return r
        raise UserError(f"no finished candidate numbered {trial}; see the number column of trials.csv")
    fits = [r for r in front if r.trainable_params <= max_params and (max_flops is None or r.flops <= max_flops)]
    if not fits:
        smallest = min(front, key=lambda r: r.trainable_params) if front else None
        hint = f"; the smallest front member has {smallest.trainable_params:,} parameters and {smallest.flops:,} FLOPs" if smallest else ""
        raise UserError(f"no front member within {max_params:,} parameters" + (f" and {max_flops:,} FLOPs" if max_flops else "") + hint)
    return max(fits, key=lambda r: (r.val_accuracy, -r.trainable_params))
