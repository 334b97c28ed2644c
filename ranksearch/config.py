"""The settings that flow CLI -> trainer -> study -> report, as dataclasses with a JSON form.

A *point configuration* (``TrainConfig``) is what ``ranksearch train --config`` reads and
``ranksearch export`` writes: model spec, data, recipe and seed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from lightlayers import ModelSpec

from ranksearch.errors import UserError


@dataclass
class DataConfig:
    dataset: str  # a reference name (mnist, fashion-mnist, cifar10, cifar100) or an image-folder path
    data_dir: str | None = None  # None: the per-user cache folder
    val_fraction: float = 0.1
    train_subset: int | None = None
    split_seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.val_fraction < 1:
            raise UserError(f"--val-fraction must be between 0 and 1 (exclusive), got {self.val_fraction}")
        if self.train_subset is not None and self.train_subset < 1:
            raise UserError(f"--train-subset must be a positive number of images, got {self.train_subset}")


@dataclass
class Recipe:
    """How a candidate is trained; every candidate and baseline of a study shares one recipe."""

    name: str
    epochs: int
    batch_size: int
    optimizer: str  # "adam" | "sgd"
    lr: float
    weight_decay: float
    schedule: str  # "onecycle": linear warm-up then linear decay to 0; "constant"
    augment: bool  # random crop (pad 4) and horizontal flip, for RGB data only
    label_smoothing: float

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise UserError(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise UserError(f"batch_size must be >= 1, got {self.batch_size}")


RECIPE_NAMES = ("fast", "paper")


def make_recipe(name: str, dataset: str, epochs: int | None = None, device: str = "cpu") -> Recipe:
    """The named recipe for a dataset, trained on ``device`` ("cpu" or "cuda").

    ``fast``: Adam with a one-cycle schedule, light augmentation on colour images and label
    smoothing: most accuracy per second on small CNNs. Its batch is 512 on CUDA, where small
    batches leave the GPU idle, and 64 on the CPU, where measurement (studies/benchmarks/
    RESULTS.md) showed the opposite: the thin layers of these networks run fastest when one
    batch's activations stay in cache, and more steps per epoch also learn faster.
    ``paper``: the LightLayers paper's recipe (Adam, batch 64, constant lr; 10 epochs at 1e-3 on
    grey images, 20 epochs at 1e-4 on CIFAR), no augmentation.
    """
    colour = not _is_grey_reference(dataset)
    if name == "fast":
        recipe = Recipe("fast", 10, 512 if device == "cuda" else 64, "adam", 1e-2, 5e-4, "onecycle", True, 0.1)
    elif name == "paper":
        recipe = Recipe("paper", 20 if colour else 10, 64, "adam", 1e-4 if colour else 1e-3, 0.0, "constant", False, 0.0)
    else:
        raise UserError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPE_NAMES)}")
    return replace(recipe, epochs=epochs) if epochs is not None else recipe


def _is_grey_reference(dataset: str) -> bool:
    return dataset in ("mnist", "fashion-mnist")


@dataclass
class TrainConfig:
    model: ModelSpec
    data: DataConfig
    recipe: Recipe
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_dict(), "data": asdict(self.data), "recipe": asdict(self.recipe), "seed": self.seed}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "configuration") -> "TrainConfig":
        if not isinstance(data, dict):
            raise UserError(f"{source}: expected a JSON object with model, data, recipe and seed")
        missing = [k for k in ("model", "data") if k not in data]
        if missing:
            raise UserError(f"{source}: missing {', '.join(missing)}; export one with `ranksearch export`")
        try:
            model = ModelSpec.from_dict(data["model"])
            data_cfg = DataConfig(**_known(DataConfig, data["data"], f"{source}: data"))
            if "recipe" in data:
                recipe = Recipe(**_known(Recipe, data["recipe"], f"{source}: recipe", require_all=True))
            else:
                recipe = make_recipe("fast", data_cfg.dataset)
        except (ValueError, TypeError) as e:
            raise UserError(f"{source}: {e}") from None
        seed = data.get("seed", 0)
        if not isinstance(seed, int):
            raise UserError(f"{source}: seed must be an integer, got {seed!r}")
        return cls(model, data_cfg, recipe, seed)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(read_json(path), source=str(path))


def _known(kind: type, values: Any, where: str, require_all: bool = False) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise UserError(f"{where} must be a JSON object, got {values!r}")
    names = {f.name for f in fields(kind)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise UserError(f"{where} has unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    if require_all:
        missing = sorted(names - set(values))
        if missing:
            raise UserError(f"{where} is missing {', '.join(missing)}")
    return values


def read_json(path: str | Path) -> Any:
    """Parse a JSON file, or raise UserError naming the file and the problem."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such file")
    try:
        return json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{p}: not valid JSON ({e})") from None


@dataclass
class SearchConfig:
    """One rank-search run: what ``ranksearch run`` resolves its flags to and saves as config.json."""

    data: DataConfig
    recipe: Recipe
    family: str = "light"  # light | decef | mixed
    objectives: tuple[str, ...] = ("params",)  # params, or params and flops; accuracy is always one
    budget: int = 50
    seed: int = 0
    study_name: str = ""
    storage: str = ""
    out: str = ""
    timeout: float | None = None
    pruning: bool = True
    sampler: str = "tpe"
    device: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["objectives"] = list(self.objectives)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SearchConfig":
        d = dict(d)
        d["data"] = DataConfig(**d["data"])
        d["recipe"] = Recipe(**d["recipe"])
        d["objectives"] = tuple(d["objectives"])
        return cls(**d)
