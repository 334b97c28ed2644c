"""ranksearch: search how much rank each layer of a CNN really needs.

The Python API mirrors the command line: ``run`` a search, ``load`` a run folder, ``export`` a
point, ``train`` it (see ``ranksearch.api``). Names load on first use, so ``import ranksearch``
(and the command line's start) stays quick until torch is needed.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "SearchResult": "ranksearch.api", "export": "ranksearch.api", "load": "ranksearch.api", "run": "ranksearch.api",
    "search_config": "ranksearch.api", "train": "ranksearch.api", "train_config": "ranksearch.api",
    "DataConfig": "ranksearch.config", "Recipe": "ranksearch.config", "SearchConfig": "ranksearch.config",
    "TrainConfig": "ranksearch.config", "make_recipe": "ranksearch.config",
    "RunFailure": "ranksearch.errors", "UserError": "ranksearch.errors",
    "Model": "ranksearch.inference", "load_model": "ranksearch.inference",
}
__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ranksearch' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
