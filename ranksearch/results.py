"""A study's results as plain rows: trials.csv, front.json and the numbers the report plots.

Nothing here trains or plots. Test accuracy is carried along for reporting only: the front is
chosen by validation accuracy and parameters alone.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
from optuna.trial import TrialState

from lightlayers import ModelSpec

from ranksearch.config import SearchConfig, TrainConfig

BASELINE_FAMILIES = ("conv", "separable")
CSV_COLUMNS = [
    "number", "state", "role", "family", "trainable_params", "keras_params", "flops",
    "val_accuracy", "test_accuracy", "epochs_run", "pruned_at_epoch", "seconds", "on_front",
]


def candidate_rows(study) -> list[dict[str, Any]]:
    """One row per finished candidate (COMPLETE or PRUNED), duplicates left out, in trial order."""
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        a = t.user_attrs
        if "duplicate_of" in a or "spec" not in a:
            continue
        rows.append(_row(t.number, t.state.name, "candidate", a))
    return rows


def baseline_rows(study) -> list[dict[str, Any]]:
    attrs = study.user_attrs
    return [_row(None, "COMPLETE", "baseline", attrs[f"baseline:{f}"]) for f in BASELINE_FAMILIES if f"baseline:{f}" in attrs]


def _row(number, state: str, role: str, a: dict[str, Any]) -> dict[str, Any]:
    spec = a["spec"]
    row = {
        "number": number,
        "state": state,
        "role": role,
        "family": a["family"],
        "trainable_params": a["trainable_params"],
        "keras_params": a["keras_params"],
        "flops": a["flops"],
        "val_accuracy": a["val_curve"][-1] if state == "COMPLETE" and a.get("val_curve") else None,
        "test_accuracy": a.get("test_accuracy"),
        "epochs_run": len(a.get("val_curve", [])),
        "pruned_at_epoch": len(a.get("val_curve", [])) if state == "PRUNED" else None,
        "seconds": round(a.get("seconds", 0.0), 2),
        "on_front": False,
    }
    for name, layer in spec["layers"].items():
        row[f"family.{name}"] = layer["family"]
        row[f"rank.{name}"] = layer.get("rank")
    row["val_curve"] = json.dumps([round(v, 5) for v in a.get("val_curve", [])])
    row["spec"] = spec
    return row


def pareto_front(rows: list[dict[str, Any]], x: str = "trainable_params", y: str = "val_accuracy") -> list[dict[str, Any]]:
    """Rows not dominated in (fewer ``x``, higher ``y``), sorted by ``x``. Equal points are all kept."""
    pts = [r for r in rows if r.get(y) is not None]
    front = [
        r for r in pts
        if not any(o[x] <= r[x] and o[y] >= r[y] and (o[x] < r[x] or o[y] > r[y]) for o in pts)
    ]
    return sorted(front, key=lambda r: (r[x], -r[y]))


def hypervolume(rows: list[dict[str, Any]], max_params: float) -> float:
    """Area dominated by the front in (log10 params, validation error), up to the reference point.

    The reference point is (log10 ``max_params``, error 1): pass the dense Conv2d baseline's
    parameters so studies of one dataset are compared on one scale. Log parameters, because a
    front spans orders of magnitude and a person reads it on a log axis.
    """
    ref_x = math.log10(max_params)
    front = [r for r in pareto_front(rows) if math.log10(r["trainable_params"]) < ref_x]
    area = 0.0
    best_acc = 0.0
    xs = [math.log10(r["trainable_params"]) for r in front] + [ref_x]
    for i, r in enumerate(front):
        best_acc = max(best_acc, r["val_accuracy"])
        area += (xs[i + 1] - xs[i]) * best_acc
    return area


def hypervolume_history(rows: list[dict[str, Any]], max_params: float) -> list[tuple[int, float]]:
    """(candidates finished, hypervolume so far) after each finished candidate, in trial order."""
    return [(i + 1, hypervolume(rows[: i + 1], max_params)) for i in range(len(rows))]


def point_config(row: dict[str, Any], cfg: SearchConfig) -> dict[str, Any]:
    """The configuration ``ranksearch train --config`` accepts for one row."""
    return TrainConfig(ModelSpec.from_dict(row["spec"]), cfg.data, cfg.recipe, cfg.seed).to_dict()


def study_tables(study, cfg: SearchConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(candidates, baselines, front), the front marked in the candidates' ``on_front``."""
    candidates = candidate_rows(study)
    baselines = baseline_rows(study)
    front = pareto_front(candidates)
    ids = {id(r) for r in front}
    for r in candidates:
        r["on_front"] = id(r) in ids
    return candidates, baselines, front


def front_records(front: list[dict[str, Any]], cfg: SearchConfig) -> list[dict[str, Any]]:
    return [
        {
            "number": r["number"],
            "trainable_params": r["trainable_params"],
            "keras_params": r["keras_params"],
            "flops": r["flops"],
            "val_accuracy": r["val_accuracy"],
            "test_accuracy": r["test_accuracy"],
            "ranks": {k[5:]: v for k, v in r.items() if k.startswith("rank.")},
            "config": point_config(r, cfg),
        }
        for r in front
    ]


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_outputs(study, cfg: SearchConfig, out_dir: str | Path) -> dict[str, Any]:
    """Write trials.csv, front.json and config.json into ``out_dir`` (atomically, so a reader
    never sees half a file); return the tables for the caller."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    candidates, baselines, front = study_tables(study, cfg)
    rows = [{k: v for k, v in r.items() if k != "spec"} for r in baselines + candidates]
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=CSV_COLUMNS)
    ordered = CSV_COLUMNS + sorted(c for c in frame.columns if c not in CSV_COLUMNS and c != "val_curve") + ["val_curve"]
    frame = frame.reindex(columns=[c for c in ordered if c in frame.columns or c in CSV_COLUMNS])
    frame["number"] = frame["number"].astype("Int64")
    frame["pruned_at_epoch"] = frame["pruned_at_epoch"].astype("Int64")
    _atomic_write(out / "trials.csv", frame.to_csv(index=False))
    _atomic_write(out / "front.json", json.dumps(front_records(front, cfg), indent=2) + "\n")
    _atomic_write(out / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
    return {"candidates": candidates, "baselines": baselines, "front": front}
