"""The LightLayers paper's result tables, as cited data.

Source: D. Jha et al., "LightLayers: Parameter Efficient Dense and Convolutional Layers for
Image Classification", PDCAT-PAAP 2020, arXiv:2101.02268, Tables 1-4 (MNIST, Fashion-MNIST,
CIFAR-10, CIFAR-100). ``lightlayers/data/lightlayers-tables.csv`` holds one row per model the
paper reports, exactly as printed: the parameter count, the test accuracy and test loss, and the
training settings of the table's caption (epochs, batch size, learning rate, filters as printed).

The parameter counts follow Keras: trainable parameters plus BatchNorm's moving mean and
variance (``keras_params``). ``reference_spec(dataset, family, rank)`` rebuilds every one of these
models exactly (method ``Conv2D`` is family ``conv``, ``SeparableConv2D`` is ``separable``,
``LightLayers`` is ``light`` with rank ``k``).

The accuracies are the paper's own, under the authors' recipe, not ours: Keras, Adam at a
constant learning rate with ``ReduceLROnPlateau`` watching the *test* loss (the test set is its
validation data), an L2 penalty on LightConv2D kernels only, pixels / 255, no shuffling, and the
last epoch's model evaluated on the test set. They are reported figures to read beside a study's
own results, never results trained here.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

PAPER_CITATION = "Jha et al., LightLayers, PDCAT 2020 (arXiv:2101.02268)"
PAPER_TABLES = "Tables 1-4"
TABLES_FILE = "lightlayers-tables.csv"
METHOD_FAMILIES = {"Conv2D": "conv", "SeparableConv2D": "separable", "LightLayers": "light"}


@dataclass(frozen=True)
class PaperResult:
    """One model of the paper's tables, as printed."""

    dataset: str  # mnist, fashion-mnist, cifar10, cifar100
    method: str  # Conv2D, SeparableConv2D, LightLayers (the paper's names)
    k: int | None  # LightLayers' rank; None for the others
    keras_params: int  # the paper's parameter column (Keras convention)
    test_accuracy: float
    test_loss: float
    epochs: int
    batch_size: int
    learning_rate: float
    filters: str  # as the caption prints it

    @property
    def family(self) -> str:
        """The lightlayers family of the conv layers: conv, separable or light."""
        return METHOD_FAMILIES[self.method]

    @property
    def label(self) -> str:
        """How the paper names the model: ``Conv2D``, ``SeparableConv2D``, ``LightLayers k=3``."""
        return f"{self.method} k={self.k}" if self.k is not None else self.method


def tables_text() -> str:
    """The cited CSV, byte for byte as shipped in the package."""
    return (files("lightlayers") / "data" / TABLES_FILE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _all_results() -> tuple[PaperResult, ...]:
    rows = []
    for r in csv.DictReader(io.StringIO(tables_text())):
        if r["method"] not in METHOD_FAMILIES:
            raise ValueError(f"{TABLES_FILE}: unknown method {r['method']!r}")
        rows.append(PaperResult(
            dataset=r["dataset"], method=r["method"], k=int(r["k"]) if r["k"] else None,
            keras_params=int(r["parameters"]), test_accuracy=float(r["test_accuracy"]), test_loss=float(r["test_loss"]),
            epochs=int(r["epochs"]), batch_size=int(r["batch_size"]), learning_rate=float(r["learning_rate"]),
            filters=r["filters"],
        ))
    return tuple(rows)


def paper_results(dataset: str | None = None) -> list[PaperResult]:
    """The paper's rows for ``dataset`` (all rows when None), in the table's order; [] for a dataset it did not report."""
    return [r for r in _all_results() if dataset is None or r.dataset == dataset]
