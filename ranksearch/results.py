"""A study's results as typed rows: trials.csv, front.json and the numbers the report plots.

Nothing here trains or plots. Rows hold real numbers and lists; text is made only when
``trials.csv`` is written. Test accuracy is carried along for reporting only: the front is
chosen by validation accuracy and the minimised objectives alone.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna._hypervolume import compute_hypervolume
from optuna.trial import FrozenTrial, TrialState

from lightlayers import spec_from_dict

from ranksearch.config import SearchConfig, TrainConfig
from ranksearch.curves import last_accuracy, progress
from ranksearch.errors import UserError

BASELINE_FAMILIES = ("conv", "separable")
WALL_ATTR = "wall_seconds"
CSV_COLUMNS = [
    "number", "state", "role", "family", "trainable_params", "keras_params", "flops",
    "val_accuracy", "test_accuracy", "epochs_run", "pruned_at_epoch", "seconds", "on_front",
    "latency_ms", "latency_ms_batch", "epochs_trained",
]


@dataclass
class Row:
    """One trained network of a study: a candidate (with its trial number) or a baseline."""

    number: int | None
    state: str  # COMPLETE or PRUNED
    role: str  # candidate or baseline
    family: str  # the search space, or conv / separable for baselines
    trainable_params: int
    keras_params: int
    flops: int
    val_accuracy: float | None  # final validation accuracy; None when pruned
    test_accuracy: float | None
    val_curve: list[float]
    seconds: float
    spec: dict[str, Any]
    latency_ms: float | None = None  # one image, median (None in studies made before latency was measured)
    latency_ms_batch: float | None = None  # per image in a batch of 256
    on_front: bool = False
    val_checks: dict[str, float] = field(default_factory=dict)  # validations within an epoch a pruner asked for

    @property
    def epochs_run(self) -> int:
        """Whole epochs trained."""
        return len(self.val_curve)

    @property
    def epochs_trained(self) -> float:
        """Epochs trained, counting the part of an epoch before a stop at a check within it."""
        return progress(self.val_curve, self.val_checks)

    @property
    def pruned_at_epoch(self) -> float | None:
        return self.epochs_trained if self.state == "PRUNED" else None

    @property
    def last_val_accuracy(self) -> float | None:
        return last_accuracy(self.val_curve, self.val_checks)

    @property
    def layers(self) -> dict[str, dict[str, Any]]:
        return self.spec["layers"]

    @property
    def ranks(self) -> dict[str, Any]:
        return {name: layer.get("rank") for name, layer in self.layers.items()}

    @property
    def families(self) -> dict[str, str]:
        return {name: layer["family"] for name, layer in self.layers.items()}

    def csv_record(self) -> dict[str, Any]:
        record = {c: getattr(self, c) for c in CSV_COLUMNS}
        record["seconds"] = round(self.seconds, 2)
        for name, layer in self.layers.items():
            record[f"family.{name}"] = layer["family"]
            rank = layer.get("rank")
            record[f"rank.{name}"] = json.dumps(rank) if isinstance(rank, list) else rank
        record["val_checks"] = json.dumps({k: round(v, 5) for k, v in self.val_checks.items()})
        record["val_curve"] = json.dumps([round(v, 5) for v in self.val_curve])
        return record


def _row(number: int | None, state: str, role: str, a: dict[str, Any]) -> Row:
    curve = list(a.get("val_curve", []))
    return Row(
        number=number, state=state, role=role, family=a["family"], trainable_params=a["trainable_params"],
        keras_params=a["keras_params"], flops=a["flops"],
        val_accuracy=curve[-1] if state == "COMPLETE" and curve else None,
        test_accuracy=a.get("test_accuracy"), val_curve=curve, seconds=a.get("seconds", 0.0), spec=a["spec"],
        latency_ms=a.get("latency_ms"), latency_ms_batch=a.get("latency_ms_batch"), val_checks=dict(a.get("val_checks") or {}),
    )


def is_candidate(t: FrozenTrial) -> bool:
    """A trial that trained a candidate: not a duplicate, not surplus to the budget."""
    return "spec" in t.user_attrs and "duplicate_of" not in t.user_attrs


def candidate_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Finished (COMPLETE or PRUNED) candidate trials, in trial order."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)) if is_candidate(t)]


def baseline_rows(study: optuna.Study) -> list[Row]:
    attrs = study.user_attrs
    families = BASELINE_FAMILIES + ("given",)  # given: a user's trained network as it came, measured before training
    return [_row(None, "COMPLETE", "baseline", attrs[f"baseline:{f}"]) for f in families if f"baseline:{f}" in attrs]


def pareto_front(rows: list[Row], x: str = "trainable_params") -> list[Row]:
    """Rows not dominated in (fewer ``x``, higher validation accuracy), sorted by ``x``. Equal points are all kept."""
    pts = [r for r in rows if r.val_accuracy is not None]
    front = [
        r for r in pts
        if not any(
            getattr(o, x) <= getattr(r, x) and o.val_accuracy >= r.val_accuracy
            and (getattr(o, x) < getattr(r, x) or o.val_accuracy > r.val_accuracy)
            for o in pts
        )
    ]
    return sorted(front, key=lambda r: (getattr(r, x), -r.val_accuracy))


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

    def baseline(self, family: str) -> Row | None:
        return next((b for b in self.baselines if b.family == family), None)


def study_tables(study: optuna.Study, cfg: SearchConfig) -> Tables:
    trials = candidate_trials(study)
    candidates = [_row(t.number, t.state.name, "candidate", t.user_attrs) for t in trials]
    baselines = baseline_rows(study)
    if cfg.objectives == ("params",):  # two objectives: Optuna's best trials are exactly this front
        best = {t.number for t in study.best_trials if is_candidate(t)}
        front = sorted((r for r in candidates if r.number in best), key=lambda r: (r.trainable_params, -r.val_accuracy))
    else:
        front = pareto_front(candidates)
    for r in front:
        r.on_front = True
    conv = next((b for b in baselines if b.family == "conv"), None)
    ref = conv.trainable_params if conv else 2 * max([r.trainable_params for r in candidates] or [1])
    history = hypervolume_history(candidates, ref)
    return Tables(candidates, baselines, front, ref, history[-1][1] if history else 0.0, history,
                  float(study.user_attrs.get(WALL_ATTR, 0.0)))


def choose_point(tables: Tables, trial: int | None = None, max_params: int | None = None, max_flops: int | None = None) -> Row:
    """The candidate numbered ``trial``, or the most accurate front member within ``max_params`` (and ``max_flops``)."""
    candidates, front = tables.candidates, tables.front
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


def point_config(row: Row, cfg: SearchConfig) -> dict[str, Any]:
    """The configuration ``ranksearch train --config`` accepts for one row."""
    return TrainConfig(spec_from_dict(row.spec), cfg.data, cfg.recipe, cfg.seed).to_dict()


def front_records(front: list[Row], cfg: SearchConfig) -> list[dict[str, Any]]:
    return [
        {
            "number": r.number,
            "trainable_params": r.trainable_params,
            "keras_params": r.keras_params,
            "flops": r.flops,
            "val_accuracy": r.val_accuracy,
            "test_accuracy": r.test_accuracy,
            "ranks": r.ranks,
            "config": point_config(r, cfg),
        }
        for r in front
    ]


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def trials_frame(tables: Tables) -> pd.DataFrame:
    """trials.csv as a DataFrame: the fixed columns, then per-slot family and rank, then the curve."""
    frame = pd.DataFrame([r.csv_record() for r in tables.baselines + tables.candidates])
    if frame.empty:
        return pd.DataFrame(columns=CSV_COLUMNS)
    extra = sorted(c for c in frame.columns if c not in CSV_COLUMNS and c not in ("val_checks", "val_curve"))
    frame = frame.reindex(columns=CSV_COLUMNS + extra + ["val_checks", "val_curve"])
    frame["number"] = frame["number"].astype("Int64")
    for column in ("pruned_at_epoch", "epochs_trained"):  # whole epochs as integers while no stop fell within one
        if frame[column].dropna().map(float.is_integer).all():
            frame[column] = frame[column].astype("Int64")
    for column in extra:  # ranks are integers; a slot without one is empty, not NaN turning 5 into 5.0
        if column.startswith("rank.") and frame[column].map(lambda v: v is None or isinstance(v, (int, float))).all():
            frame[column] = frame[column].astype("Int64")
    return frame


def write_outputs(tables: Tables, cfg: SearchConfig, out_dir: str | Path) -> None:
    """Write trials.csv, front.json and config.json into ``out_dir``, each atomically, so a
    reader never sees half a file."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / "trials.csv", trials_frame(tables).to_csv(index=False))
    _atomic_write(out / "front.json", json.dumps(front_records(tables.front, cfg), indent=2) + "\n")
    _atomic_write(out / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
