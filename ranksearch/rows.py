"""A study's networks as plain typed rows: what ``ranksearch.records`` reads out of a study and everything else uses.

Nothing here touches Optuna: a ``Record`` is one network (a candidate, the parent, a baseline)
with its costs, its validation record and its test accuracy; a ``Trained`` is the part a pruner
compares while a network trains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ranksearch.curves import accuracy_at, last_accuracy, progress


@dataclass
class Record:
    """One network of a study: a candidate (with its trial number), the parent, or a baseline (``name``)."""

    role: str  # candidate | parent | baseline
    name: str  # a candidate's search space; the baseline's name (conv, separable, conv@0.5); "parent"
    number: int | None
    state: str  # COMPLETE, PRUNED (RUNNING while it trains)
    spec: dict[str, Any]
    measures: dict[str, float]  # the registered objectives' columns (trainable_params, flops, latency_ms, ...)
    val_curve: list[float] = field(default_factory=list)  # validation accuracy after each epoch
    val_checks: dict[str, float] = field(default_factory=dict)  # within epochs, keyed by curves.check_key
    test_accuracy: float | None = None  # reported only, never used to choose
    seconds: float = 0.0  # training wall time
    on_front: bool = False  # set by ranksearch.results
    lineage: str = ""  # how a parent or baseline was made: "trained", "as given", "inherits", "scratch N epochs"
    seeds: list[tuple[int, float, float | None]] = field(default_factory=list)  # (seed, val, test), when trained again
    threads: int | None = None  # CPU threads it trained with (its figures reproduce with the same count)
    diverged_at: float | None = None  # where its training stopped because the loss or weights were no longer finite
    energy_kept: float | None = None  # inherited: the mean share of the parent's spectral energy its layers keep

    @property
    def val_accuracy_seeds(self) -> list[float]:
        """Validation accuracy of every seed trained (this one first); empty when not confirmed."""
        return [v for _, v, _ in self.seeds]

    @property
    def test_accuracy_seeds(self) -> list[float | None]:
        return [t for _, _, t in self.seeds]

    @property
    def family(self) -> str:
        """The search space of a candidate, the name of a baseline: trials.csv's family column."""
        return self.name

    @property
    def trainable_params(self) -> int:
        return int(self.measures["trainable_params"])

    @property
    def keras_params(self) -> int:
        return int(self.measures["keras_params"])

    @property
    def flops(self) -> int:
        return int(self.measures["flops"])

    @property
    def latency_ms(self) -> float | None:
        return self.measures.get("latency_ms")

    @property
    def latency_ms_batch(self) -> float | None:
        return self.measures.get("latency_ms_batch")

    def value(self, column: str) -> float | None:
        """A measured column, or None where the study predates its measurement."""
        return self.measures.get(column)

    @property
    def val_accuracy(self) -> float | None:
        """Final validation accuracy: the search's objective; None unless complete."""
        return self.val_curve[-1] if self.state == "COMPLETE" and self.val_curve else None

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

    @property
    def key(self) -> str:
        """``trial 6``, ``baseline separable`` or ``parent``: how tables and the verdict name a record."""
        if self.role == "candidate":
            return f"trial {self.number}"
        return "parent" if self.role == "parent" else f"baseline {self.name}"


@dataclass(frozen=True)
class Trained:
    """A network's size and validation record so far: what a pruner compares."""

    number: int | None
    trainable_params: int
    val_curve: list[float]
    val_checks: dict[str, float]
    num_classes: int | None = None
    energy: float | None = None  # inherited: the mean share of the parent's spectral energy its layers keep

    @property
    def progress(self) -> float:
        return progress(self.val_curve, self.val_checks)

    def accuracy_at(self, at: float) -> float | None:
        return accuracy_at(self.val_curve, self.val_checks, at)
