"""A study's results as typed rows: trials.csv, front.json and the numbers the report plots.

Nothing here trains or plots. Rows hold real numbers and lists; text is made only when
``trials.csv`` is written. Test accuracy is carried along for reporting only: the front is
chosen by validation accuracy and the minimised objectives alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna._hypervolume import compute_hypervolume

from lightlayers import spec_from_dict

from ranksearch import records, storage
from ranksearch.config import SearchConfig, TrainConfig
from ranksearch.errors import UserError
from ranksearch.objectives import get_objective, recorded_columns
from ranksearch.rows import Record as Row

CSV_COLUMNS = [
    "number", "state", "role", "family", "trainable_params", "keras_params", "flops",
    "val_accuracy", "test_accuracy", "epochs_run", "pruned_at_epoch", "seconds", "on_front",
    "latency_ms", "latency_ms_batch", "epochs_trained",
]


def csv_columns() -> list[str]:
    """trials.csv's fixed columns: the ones above, then any other registered objective's columns (its
    costs, then what it records beside them, such as the threads a latency was measured with)."""
    return CSV_COLUMNS + [c for c in recorded_columns() if c not in CSV_COLUMNS] + ["lineage", "diverged_at", "energy_kept"]


def csv_record(r: Row) -> dict[str, Any]:
    record = {c: getattr(r, c) if hasattr(r, c) else r.value(c) for c in csv_columns()}
    record["seconds"] = round(r.seconds, 2)
    for name, layer in r.layers.items():
        record[f"family.{name}"] = layer["family"]
        rank = layer.get("rank")
        record[f"rank.{name}"] = json.dumps(rank) if isinstance(rank, list) else rank
    record["val_accuracy_seeds"] = json.dumps(r.val_accuracy_seeds) if r.seeds else None
    record["test_accuracy_seeds"] = json.dumps(r.test_accuracy_seeds) if r.seeds else None
    record["val_checks"] = json.dumps({k: round(v, 5) for k, v in r.val_checks.items()})
    record["val_curve"] = json.dumps([round(v, 5) for v in r.val_curve])
    return record


def pareto_front(rows: list[Row], x: str | tuple[str, ...] = "trainable_params") -> list[Row]:
    """Rows not dominated in (fewer of each column ``x``, higher validation accuracy), sorted by the
    first column. Equal points are all kept; rows without a value in a column are left out."""
    columns = (x,) if isinstance(x, str) else tuple(x)
    pts = [(r, [r.value(c) for c in columns]) for r in rows if r.val_accuracy is not None]
    pts = [(r, v) for r, v in pts if None not in v]

    def dominated(r: Row, v: list[float]) -> bool:
        return any(
            all(a <= b for a, b in zip(w, v)) and o.val_accuracy >= r.val_accuracy
            and (any(a < b for a, b in zip(w, v)) or o.val_accuracy > r.val_accuracy)
            for o, w in pts
        )

    return sorted((r for r, v in pts if not dominated(r, v)), key=lambda r: (r.value(columns[0]), -r.val_accuracy))


def hypervolume(rows: list[Row], max_params: float) -> float:
    """Area dominated by the front in (log10 params, validation accuracy), up to the reference point.

    The reference point is (log10 ``max_params``, accuracy 0): pass the dense Conv2d baseline's
    parameters so studies of one dataset are compared on one scale. Log parameters, because a
    front spans orders of magnitude and a person reads it on a log axis.
    """
    ref = math.log10(max_params)
    points = [(math.log10(r.trainable_params), -r.val_accuracy) for r in rows
              if r.val_accuracy is not None and math.log10(r.trainable_params) < ref]
    if not points:
        return 0.0
    return float(compute_hypervolume(np.array(points), np.array([ref, 0.0])))


def hypervolume_history(rows: list[Row], max_params: float) -> list[tuple[int, float]]:
    """(candidates finished, hypervolume so far) after each finished candidate, in trial order."""
    return [(i + 1, hypervolume(rows[: i + 1], max_params)) for i in range(len(rows))]


@dataclass
class Tables:
    """A study's rows, computed once: candidates (front marked), baselines, front, hypervolume."""

    candidates: list[Row]
    baselines: list[Row]
    front: list[Row]
    reference_params: int  # the hypervolume's reference: the Conv2d baseline's parameters
    hypervolume: float
    history: list[tuple[int, float]] = field(default_factory=list)
    wall_seconds: float = 0.0  # wall time of every `ranksearch run` of this study so far, data and baselines included
    parent: Row | None = None  # the dense network candidates inherit from (or a user's network as given)
    parent_weights: str | None = None  # its state_dict file
    confirmation_seconds: float = 0.0  # training the named networks again with other seeds
    search_seconds: float = 0.0  # job-seconds of everything else trained

    def baseline(self, family: str) -> Row | None:
        return next((b for b in self.baselines if b.family == family), None)

    @property
    def references(self) -> list[Row]:
        """What a user has without the search: the parent and the baselines."""
        return ([self.parent] if self.parent is not None else []) + self.baselines


def front_columns(cfg: SearchConfig) -> tuple[str, ...]:
    """The minimised columns a study's front is chosen by: each of its objectives."""
    return tuple(get_objective(o).column for o in cfg.objectives)


def study_tables(study: optuna.Study, cfg: SearchConfig, folder: str | Path | None = None) -> Tables:
    """The study's rows; ``folder``, its run folder, where a moved study finds its parent's weights."""
    candidates = records.candidates(study)
    baselines = records.baselines(study)
    front = pareto_front(candidates, front_columns(cfg))
    for r in front:
        r.on_front = True
    conv = next((b for b in baselines if b.family == "conv"), None)
    ref = conv.trainable_params if conv else 2 * max([r.trainable_params for r in candidates] or [1])
    history = hypervolume_history(candidates, ref)
    tables = Tables(candidates, baselines, front, ref, history[-1][1] if history else 0.0, history,
                    storage.wall_seconds(study), records.parent(study), records.parent_weights(study, folder),
                    records.confirmation_seconds(study), records.training_seconds(study))
    moved_to = cfg.model.get("weights") if isinstance(cfg.model, dict) else None  # config.json, edited when they moved
    for r in tables.references + candidates:  # a user's network's base weights, kept in a run folder moved since
        weights = records.in_folder(r.spec.get("weights"), folder)
        if weights and moved_to and not Path(weights).exists():
            weights = moved_to
        if weights != r.spec.get("weights"):
            r.spec = {**r.spec, "weights": weights}
    runs = records.seed_runs(study)
    for r in tables.references + candidates:
        if r.key in runs and r.val_accuracy is not None:
            r.seeds = [(cfg.seed, r.val_accuracy, r.test_accuracy)] + runs[r.key]
    return tables


def choose_point(tables: Tables, trial: int | None = None, max_params: int | None = None, max_flops: int | None = None,
                 baseline: str | None = None, take: Row | None = None) -> Row:
    """The candidate numbered ``trial``; the most accurate front member within ``max_params`` (and
    ``max_flops``); the baseline named ``baseline`` (``parent``: the parent); or ``take``, the row the
    verdict takes (the caller computes it)."""
    candidates, front = tables.candidates, tables.front
    if max_flops is not None and max_params is None:
        raise UserError("--max-flops goes with --max-params P (the most accurate front member within both)")
    if sum(x is not None for x in (trial, max_params, baseline, take)) != 1:
        raise UserError("give exactly one of --trial N, --max-params P, --baseline NAME or --take")
    if take is not None:
        return take
    if baseline is not None:
        found = next((r for r in tables.references if r.key == ("parent" if baseline == "parent" else f"baseline {baseline}")), None)
        if found is None:
            names = ", ".join(r.key.removeprefix("baseline ") for r in tables.references) or "none yet"
            raise UserError(f"no baseline named {baseline!r} in this run; its baselines: {names}")
        return found
    if trial is not None:
        for r in candidates:
            if r.number == trial:
                if r.state != "COMPLETE":
                    raise UserError(f"trial {trial} was pruned at epoch {r.pruned_at_epoch:g}; choose a complete trial")
                return r
        ref = next((r for r in tables.references if r.number == trial), None)
        if ref is not None:
            raise UserError(f"trial {trial} is the run's {ref.key}, not a candidate: --baseline {reference_flag(ref)}")
        raise UserError(f"no finished candidate numbered {trial}; see the number column of trials.csv")
    fits = [r for r in front if within(r, max_params, max_flops)]
    if not fits:
        smallest = min(front, key=lambda r: r.trainable_params) if front else None
        hint = f"; the smallest front member has {smallest.trainable_params:,} parameters and {smallest.flops:,} FLOPs" if smallest else ""
        refs = [r for r in tables.references if within(r, max_params, max_flops) and r.val_accuracy is not None]
        if refs:
            best = max(refs, key=lambda r: r.val_accuracy)
            hint += f"; {best.key} fits ({best.trainable_params:,} parameters): --baseline {reference_flag(best)}"
        raise UserError(f"no front member within {max_params:,} parameters" + (f" and {max_flops:,} FLOPs" if max_flops else "") + hint)
    return max(fits, key=lambda r: (r.val_accuracy, -r.trainable_params))


def within(r: Row, max_params: int, max_flops: int | None = None) -> bool:
    return r.trainable_params <= max_params and (max_flops is None or r.flops <= max_flops)


def reference_flag(r: Row) -> str:
    """The ``--baseline`` value that picks a parent or baseline row."""
    return r.key.removeprefix("baseline ")


def point_config(row: Row, cfg: SearchConfig, parent_weights: str | None = None) -> dict[str, Any]:
    """The configuration ``ranksearch train --config`` accepts for one row, trained as the search trained
    it: a candidate (or a baseline that inherits) under ``start="parent"`` names the parent it inherits
    from and the fine-tune recipe; a baseline from scratch its own epochs; the parent the recipe."""
    inherits = parent_weights is not None and cfg.start == "parent" and (
        row.role == "candidate" or (row.role == "baseline" and row.lineage.startswith("inherits")))
    recipe = cfg.candidate_recipe if inherits else cfg.recipe
    if row.role == "baseline" and not inherits and row.epochs_run:
        recipe = replace(recipe, epochs=row.epochs_run)
    if row.role == "parent" and row.seconds == 0.0 and row.lineage.startswith("your network as given"):
        raise UserError(f"the parent is your network as given, not trained by the search: it is {row.spec.get('source')} "
                        f"with the weights you gave ({parent_weights}); to write it as a file, `ranksearch train --model "
                        f"{row.spec.get('source')} --weights {parent_weights} --save FILE.onnx` trains it from those weights first")
    return TrainConfig(spec_from_dict(row.spec), cfg.data, recipe, cfg.seed, parent_weights if inherits else None,
                       row.threads).to_dict()


def front_records(front: list[Row], cfg: SearchConfig, parent_weights: str | None = None) -> list[dict[str, Any]]:
    return [
        {
            "number": r.number,
            "trainable_params": r.trainable_params,
            "keras_params": r.keras_params,
            "flops": r.flops,
            "val_accuracy": r.val_accuracy,
            "test_accuracy": r.test_accuracy,
            "ranks": r.ranks,
            "config": point_config(r, cfg, parent_weights),
        }
        for r in front
    ]


def trials_frame(tables: Tables) -> pd.DataFrame:
    """trials.csv as a DataFrame: the fixed columns, then per-slot family and rank, then the curve."""
    columns = csv_columns()
    frame = pd.DataFrame([csv_record(r) for r in tables.references + tables.candidates])
    if frame.empty:
        return pd.DataFrame(columns=columns)
    tail = ["val_accuracy_seeds", "test_accuracy_seeds", "val_checks", "val_curve"]
    extra = sorted(c for c in frame.columns if c not in columns and c not in tail)
    frame = frame.reindex(columns=columns + extra + tail)
    frame["number"] = frame["number"].astype("Int64")
    for column in ("pruned_at_epoch", "epochs_trained"):  # whole epochs as integers while no stop fell within one
        if frame[column].dropna().map(float.is_integer).all():
            frame[column] = frame[column].astype("Int64")
    for column in extra:  # ranks are integers; a slot without one is empty, not NaN turning 5 into 5.0
        if column.startswith("rank.") and frame[column].map(lambda v: v is None or isinstance(v, (int, float))).all():
            frame[column] = frame[column].astype("Int64")
    return frame
