"""Which row of a study a person means: a trial, the best within a size, a baseline, or what the verdict takes."""

from __future__ import annotations

from ranksearch.config import SearchConfig
from ranksearch.errors import UserError
from ranksearch.results import Row, Tables, choose_point, reference_flag, within
from ranksearch.verdict import on_mean, verdict


def pick_row(tables: Tables, cfg: SearchConfig, trial: int | None = None, *, max_params: int | None = None,
             max_flops: int | None = None, take: bool = False, baseline: str | None = None) -> Row:
    """Trial ``trial``; the most accurate front member within ``max_params`` (and ``max_flops``);
    what the verdict takes (``take``); or a baseline by name (``parent``: the parent)."""
    chosen = None
    if take:
        v = verdict(tables, cfg)
        if v.take is None:
            raise UserError("the verdict takes nothing yet: no candidate or baseline has finished")
        chosen = {r.key: r for r in tables.references + tables.candidates}[v.take.key]
    return choose_point(tables, trial, max_params, max_flops, baseline, chosen)


def more_accurate_note(tables: Tables, row: Row, max_params: int, max_flops: int | None = None) -> str | None:
    """A line naming the most accurate parent or baseline within the same limits, when it beats ``row`` on
    validation: ``--max-params`` picks among the search's front, and a user should hear when a baseline does better.
    Networks trained with more seeds are compared on their mean, as the verdict compares them."""
    refs = [on_mean(r) for r in tables.references if r.val_accuracy is not None and within(r, max_params, max_flops)]
    ref, mine = max(refs, key=lambda r: r.val_accuracy, default=None), on_mean(row)
    if ref is None or ref.val_accuracy <= mine.val_accuracy:
        return None

    def val(r: Row) -> str:
        seeds = f", mean of {len(r.seeds)} seeds" if r.seeds else ""
        return f"val {r.val_accuracy:.4f}{seeds}"

    return (f"note: {ref.key} ({ref.trainable_params:,} parameters, {val(ref)}) is more accurate "
            f"within {max_params:,} parameters than this front member ({val(mine)}); "
            f"--baseline {reference_flag(ref)} exports it")
