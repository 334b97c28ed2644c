"""A network's validation record: accuracy after each whole epoch (``val_curve``, a list) and at
checks within an epoch that a pruner asked for (``val_checks``, keyed by ``check_key``).

Pruners read it from trial and baseline records, results and reports from rows; one place
says how a point is named, how far a network trained, and what it scored at a point.
"""

from __future__ import annotations

from typing import Mapping, Sequence


def check_key(at: float) -> str:
    """How a point within an epoch is named in ``val_checks`` (JSON keys are strings)."""
    return f"{at:.4f}"


def progress(curve: Sequence[float], checks: Mapping[str, float]) -> float:
    """Epochs trained: the last whole epoch or the last check, whichever is later."""
    return round(max([float(len(curve))] + [float(k) for k in checks]), 4)


def accuracy_at(curve: Sequence[float], checks: Mapping[str, float], at: float) -> float | None:
    """Validation accuracy at ``at`` epochs (0: before the first step), None where it was not measured."""
    if at == int(at) and at > 0:
        return curve[int(at) - 1] if 1 <= at <= len(curve) else None
    return checks.get(check_key(at))


def last_accuracy(curve: Sequence[float], checks: Mapping[str, float]) -> float | None:
    """Validation accuracy at the last point measured (a check, when training stopped there)."""
    return accuracy_at(curve, checks, progress(curve, checks))
