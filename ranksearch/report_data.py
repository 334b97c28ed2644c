"""The report's data step: a study's tables as plain, JSON-ready numbers (``report_data``).

Nothing here draws. ``ranksearch.figures`` and ``ranksearch.page`` render what this returns, and
the page embeds it, so every number a person sees is also machine-readable.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from typing import Any

from lightlayers import build_model, count_model, reference_spec
from lightlayers.paper import PAPER_CITATION, PAPER_TABLES, paper_results

from ranksearch.config import SearchConfig
from ranksearch.labels import baseline_label, layers_label, slot_choices
from ranksearch.objectives import axis_title, measured_columns
from ranksearch.results import Row, Tables, pareto_front
from ranksearch.verdict import verdict

PARAMS_COLUMNS = ("trainable_params", "keras_params")
TRAINING_SECONDS = "seconds"


def cost_axes() -> dict[str, str]:
    """The other fronts' x-axes (every measured column but the parameter counts, then training
    time), each with its title, in the order the report's menu offers them."""
    axes = {c: axis_title(c) for c in measured_columns() if c not in PARAMS_COLUMNS}
    axes[TRAINING_SECONDS] = "training wall time of the candidate, seconds"
    return axes


def _slot_text(spec: dict[str, Any]) -> dict[str, str]:
    """Each slot's family symbol and rank from the registry: ``L3``, ``D2``, ``S``, ``C``, ``F``."""
    return {name: fam.symbol + "/".join(str(r) for r in ranks) for name, _, fam, ranks in slot_choices(spec)}


def _point(r: Row) -> dict[str, Any]:
    return {
        "number": r.number, "state": r.state, "role": r.role, "family": r.family,
        **{c: r.value(c) for c in measured_columns()},
        "val_accuracy": r.val_accuracy, "last_val_accuracy": r.last_val_accuracy, "test_accuracy": r.test_accuracy,
        "seconds": r.seconds, "epochs_run": r.epochs_run, "epochs_trained": r.epochs_trained,
        "ranks": r.ranks, "families": r.families, "slots": _slot_text(r.spec), "layers": layers_label(r.spec),
        "val_curve": r.val_curve, "on_front": r.on_front, "lineage": r.lineage,
        "val_accuracy_seeds": r.val_accuracy_seeds, "test_accuracy_seeds": r.test_accuracy_seeds,
    }


def _baseline(b: Row) -> dict[str, Any]:
    label = "the parent" if b.role == "parent" else f"{baseline_label(b.family)} baseline"
    return {**_point(b), "label": label}


@lru_cache(maxsize=64)
def _count(dataset: str, family: str, rank: int | None) -> tuple[int, int, int]:
    counts = count_model(build_model(reference_spec(dataset, family, rank)))
    return counts.trainable_params, counts.keras_params, counts.flops


def paper_reported(dataset: str) -> list[dict[str, Any]]:
    """The paper's reported figures for ``dataset`` (none for a dataset it did not report).

    Each is placed at the trainable parameters (and FLOPs) of the same network rebuilt by
    ``reference_spec``: the paper counts the Keras way, trainable plus BatchNorm's moving statistics.
    """
    points = []
    for r in paper_results(dataset):
        trainable, keras, flops = _count(dataset, r.family, r.k)
        points.append({
            "label": r.label, "short": f"k={r.k}" if r.k is not None else {"conv": "Conv2D", "separable": "Sep"}[r.family],
            "method": r.method, "family": r.family, "k": r.k, "paper_keras_params": r.keras_params,
            "keras_params": keras, "trainable_params": trainable, "flops": flops,
            "test_accuracy": r.test_accuracy, "test_loss": r.test_loss, "epochs": r.epochs,
            "batch_size": r.batch_size, "learning_rate": r.learning_rate,
        })
    return points


def _paper_trained(candidates: list[Row], dataset: str) -> list[dict[str, Any]]:
    """The study's candidates that are exactly the paper's uniform-rank Light models."""
    by_spec = {json.dumps(r.spec, sort_keys=True): r for r in candidates}
    points = []
    for r in paper_results(dataset):
        if r.family != "light":
            continue
        row = by_spec.get(json.dumps(reference_spec(dataset, r.family, r.k).to_dict(), sort_keys=True))
        if row is not None:
            points.append({"label": f"k={r.k}", "rank": r.k, "number": row.number, "paper_keras_params": r.keras_params})
    return points


def _front_numbers(complete: list[Row], x: str) -> list[int]:
    if x == TRAINING_SECONDS:
        complete = [replace(r, measures={**r.measures, x: r.seconds}) for r in complete]
    return [r.number for r in pareto_front(complete, x=x)]


def report_data(tables: Tables, cfg: SearchConfig, study_name: str, run_dir: str | None) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready numbers; ``verdict`` is ``Verdict.to_dict()``."""
    complete = [r for r in tables.candidates if r.state == "COMPLETE"]
    v = verdict(tables, replace(cfg, study_name=study_name))
    return {
        "study": study_name,
        "dataset": cfg.data.dataset,
        "family": cfg.family,
        "epochs": cfg.candidate_recipe.epochs,
        "recipe": cfg.recipe.name,
        "start": cfg.start,
        "parent_epochs": cfg.recipe.epochs if cfg.start == "parent" and not cfg.given_weights else None,  # None: as given
        "train_subset": cfg.data.train_subset,
        "budget": cfg.budget,
        "verdict": v.to_dict(),
        "points": [_point(r) for r in tables.candidates],
        "front": [r.number for r in tables.front],
        "axes": {c: axis_title(c) for c in measured_columns()},
        "cost_axes": cost_axes(),
        "cost_fronts": {x: _front_numbers(complete, x) for x in cost_axes()},
        "baselines": [_baseline(b) for b in tables.references],
        # The paper's figures are of its own networks: none beside a user's network.
        "paper_reported": paper_reported(cfg.data.dataset) if cfg.model is None else [],
        "paper_trained": _paper_trained(tables.candidates, cfg.data.dataset) if cfg.model is None else [],
        "paper_citation": PAPER_CITATION,
        "paper_tables": PAPER_TABLES,
        "hypervolume": [{"finished": n, "hypervolume": hv} for n, hv in tables.history],
        "hypervolume_reference_params": tables.reference_params,
        "run_dir": run_dir,
    }
