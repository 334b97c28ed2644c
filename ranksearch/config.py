"""The settings that flow CLI -> search -> trainer -> report, as dataclasses with a JSON form.

Every class checks its own values and raises ``ValueError`` naming the field; the command line
turns that into its one-line error. A *point configuration* (``TrainConfig``) is what
``ranksearch train --config`` reads and ``ranksearch export`` writes: model spec, data, recipe
and seed. A ``SearchConfig`` is one search, saved as the run folder's ``config.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from lightlayers import ModelSpec, NetworkSpec, spec_from_dict

from ranksearch.atomic import write_atomic
from ranksearch.hardware import default_precision
from ranksearch.objectives import canonical_objectives, check_objectives
from ranksearch.pruners import check_pruner
from ranksearch.samplers import check_sampler
from ranksearch.space import check_space
from ranksearch.storage_url import without_password

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("onecycle", "constant", "plateau")
NORMALIZATIONS = ("standardize", "unit")
PRECISIONS = ("fp32", "bf16")
RECIPE_NAMES = ("fast", "paper", "finetune")
STARTS = ("parent", "scratch")
DEFAULT_BASELINES = ("conv", "separable", "conv@0.5", "conv@0.75")  # the dense network, all separable, thinner
NETWORK_BASELINES = ("conv", "separable")  # a user's network: widths are the paper network's only
WARM_SHARES = (0.25, 0.35, 0.5)  # of the trained network's parameters: warm starts allocated where compression is asked for
BASELINE_FAMILIES = ("conv", "separable")
FINETUNE_LR_FACTOR = 1.0  # the fine-tune's peak rate, as a share of the parent's (DECISIONS.md)
GIVEN_FINETUNE_LR = 1e-2  # the fine-tune's peak rate (SGD) for a user's trained network (DECISIONS.md)
GREY_REFERENCES = ("mnist", "fashion-mnist")


def _check_int(name: str, value: object, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_seed(value: object) -> None:
    _check_int("seed", value, 0)
    if value >= 2**63:  # what torch.manual_seed takes
        raise ValueError(f"seed must be below 2**63, got {value}")


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _check_number(name: str, value: object, low: float, high: float | None = None, low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (high is None or value < high)
    if not ok:
        bound = f"{'>' if low_open else '>='} {low}" + (f" and < {high}" if high is not None else "")
        raise ValueError(f"{name} must be a number {bound}, got {value!r}")


@dataclass
class DataConfig:
    """Which images, and how the training set is split into train and validation."""

    dataset: str  # a reference name (mnist, fashion-mnist, cifar10, cifar100) or an image-folder path
    data_dir: str | None = None  # None: the per-user cache folder
    val_fraction: float = 0.1
    train_subset: int | None = None
    split_seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"dataset must be a name or a folder path, got {self.dataset!r}")
        _check_number("val_fraction", self.val_fraction, 0, 1, low_open=True)
        if self.train_subset is not None:
            _check_int("train_subset", self.train_subset)
        _check_int("split_seed", self.split_seed, 0)


@dataclass
class Recipe:
    """How a candidate is trained; every candidate and baseline of a study shares one recipe."""

    name: str
    epochs: int
    batch_size: int
    optimizer: str  # "adam" (AdamW) | "sgd" (Nesterov momentum 0.9)
    lr: float
    weight_decay: float
    schedule: str  # "onecycle": linear warm-up then linear decay to 0; "constant"
    augment: bool  # random crop (pad 4) and horizontal flip, for RGB data only
    label_smoothing: float
    precision: str = "fp32"  # "bf16": autocast to bfloat16 for the forward pass
    # The LightLayers authors' Keras code, where it changes accuracy (../shared/paper/README.md):
    normalize: str = "standardize"  # per-channel mean/std of the training set; "unit": pixels / 255
    bn_momentum: float = 0.1  # PyTorch's convention (Keras' momentum 0.99 is 0.01 here)
    bn_eps: float = 1e-5
    light_conv_l2: float = 0.0  # L2 on LightConv2d kernels, added to the loss (Keras l2(1e-4))
    light_dense_scale: bool = False  # LightLinear's product scaled by 2/units, as the authors' LightDense
    patience: int = 4  # epochs without a lower validation loss before "plateau" divides the rate by 10
    # A network inherited from a parent learns this share of its loss from the parent's outputs
    # (knowledge distillation, softened at DISTILL_TEMPERATURE), the rest from the labels.
    distill: float = 0.0

    def __post_init__(self) -> None:
        _check_int("epochs", self.epochs)
        _check_int("batch_size", self.batch_size)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_number("lr", self.lr, 0, low_open=True)
        _check_number("weight_decay", self.weight_decay, 0)
        _check_choice("schedule", self.schedule, SCHEDULES)
        if not isinstance(self.augment, bool):
            raise ValueError(f"augment must be true or false, got {self.augment!r}")
        _check_number("label_smoothing", self.label_smoothing, 0, 1)
        _check_choice("precision", self.precision, PRECISIONS)
        _check_choice("normalize", self.normalize, NORMALIZATIONS)
        _check_number("bn_momentum", self.bn_momentum, 0, 1, low_open=True)
        _check_number("bn_eps", self.bn_eps, 0, low_open=True)
        _check_number("light_conv_l2", self.light_conv_l2, 0)
        if not isinstance(self.light_dense_scale, bool):
            raise ValueError(f"light_dense_scale must be true or false, got {self.light_dense_scale!r}")
        _check_int("patience", self.patience)
        if not (isinstance(self.distill, (int, float)) and not isinstance(self.distill, bool) and 0 <= self.distill <= 1):
            raise ValueError(f"distill must be a number from 0 to 1, got {self.distill!r}")


def make_recipe(name: str, dataset: str, epochs: int | None = None, device: str = "cpu") -> Recipe:
    """The named recipe for a dataset, trained on ``device`` ("cpu" or "cuda").

    ``fast``: Adam with a one-cycle schedule, light augmentation on colour images and label
    smoothing: most accuracy per second on small CNNs. Its batch is 512 on CUDA, where small
    batches leave the GPU idle, and 64 on the CPU (DECISIONS.md says why).
    ``paper``: the LightLayers paper's recipe as its authors' code trains (Adam, batch 64; 10
    epochs at 1e-3 on grey images, 20 at 1e-4 on colour; no augmentation; pixels / 255; Keras'
    BatchNorm momentum and epsilon; L2 1e-4 on LightConv2d kernels; LightDense's 2/units
    scaling; the rate divided by 10 after 4 epochs (3 on Fashion-MNIST) without a lower
    validation loss), except that it watches our validation split, never the test set.
    """
    _check_choice("recipe", name, RECIPE_NAMES)
    colour = dataset not in GREY_REFERENCES
    if name == "finetune":
        parent = make_recipe("fast", dataset, device=device)
        return finetune_recipe(parent, epochs if epochs is not None else finetune_epochs(parent.epochs))
    if name == "fast":
        recipe = Recipe(
            name="fast", epochs=10, batch_size=512 if device == "cuda" else 64, optimizer="adam", lr=1e-2,
            weight_decay=5e-4, schedule="onecycle", augment=True, label_smoothing=0.1,
            precision=default_precision(device),
        )
    else:
        recipe = Recipe(
            name="paper", epochs=20 if colour else 10, batch_size=64, optimizer="adam", lr=1e-4 if colour else 1e-3,
            weight_decay=0.0, schedule="plateau", augment=False, label_smoothing=0.0, normalize="unit",
            bn_momentum=0.01, bn_eps=1e-3, light_conv_l2=1e-4, light_dense_scale=True,
            patience=3 if dataset == "fashion-mnist" else 4,
        )
    return replace(recipe, epochs=epochs) if epochs is not None else recipe


def parse_baseline(name: object) -> tuple[str, float]:
    """``conv`` -> ("conv", 1.0); ``conv@0.5`` -> ("conv", 0.5): a baseline's family and width multiplier."""
    if isinstance(name, str):
        family, _, multiplier = name.partition("@")
        try:
            m = float(multiplier) if multiplier else 1.0
        except ValueError:
            m = -1.0
        if family in BASELINE_FAMILIES and 0 < m <= 4 and math.isfinite(m):
            return family, m
    raise ValueError(f"baselines must be conv or separable, optionally at a width multiplier (conv@0.5), got {name!r}")


def finetune_epochs(parent_epochs: int) -> int:
    """The fine-tune's default length: a third of the parent's training, at least one epoch (DECISIONS.md)."""
    return max(1, round(parent_epochs * 0.3))


def finetune_recipe(parent: Recipe, epochs: int, given: bool = False) -> Recipe:
    """How a network inherited from a trained parent is fine-tuned: the parent's recipe (its data
    normalisation, augmentation, precision and batch) with a short one-cycle schedule at a fraction
    of its rate, so the inherited weights are adjusted rather than retrained. ``given``: the parent is
    a user's trained network, whose recipe is unknown here; it fine-tunes with SGD (Nesterov) at
    ``GIVEN_FINETUNE_LR``, as the search's Adam at its full rate undoes weights it did not train."""
    recipe = replace(parent, name="finetune", epochs=epochs, lr=parent.lr * FINETUNE_LR_FACTOR, schedule="onecycle")
    return given_finetune(recipe) if given else recipe


def given_finetune(recipe: Recipe) -> Recipe:
    """``recipe`` as a fine-tune of a user's trained network: SGD (Nesterov) at ``GIVEN_FINETUNE_LR``."""
    return replace(recipe, optimizer="sgd", lr=GIVEN_FINETUNE_LR)


def _known(kind: type, values: Any, where: str, require: tuple[str, ...] = ()) -> dict[str, Any]:
    """``values`` as keyword arguments of ``kind``: ValueError on unknown or missing fields."""
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be a JSON object, got {values!r}")
    names = {f.name for f in fields(kind)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{where} has unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    missing = sorted(set(require) - set(values))
    if missing:
        raise ValueError(f"{where} is missing {', '.join(missing)}")
    return values


# Configurations written before these fields existed meant their defaults (fp32, standardized, ...).
_RECIPE_REQUIRED = ("name", "epochs", "batch_size", "optimizer", "lr", "weight_decay", "schedule", "augment", "label_smoothing")


def recipe_from_dict(values: Any, where: str = "recipe") -> Recipe:
    return Recipe(**_known(Recipe, values, where, require=_RECIPE_REQUIRED))


def data_from_dict(values: Any, where: str = "data") -> DataConfig:
    return DataConfig(**_known(DataConfig, values, where, require=("dataset",)))


@dataclass
class TrainConfig:
    """One network and how to train it: what ``ranksearch train --config`` reads."""

    model: ModelSpec | NetworkSpec | None
    data: DataConfig
    recipe: Recipe
    seed: int = 0
    parent: str | None = None  # the trained dense network's state_dict the model inherits from, factorised layer by layer
    threads: int | None = None  # CPU threads it trains with (numbers round differently with another count); None: all

    def __post_init__(self) -> None:
        _check_seed(self.seed)
        if self.threads is not None:
            _check_int("threads", self.threads)
        if self.parent is not None and not isinstance(self.parent, str):
            raise ValueError(f"parent must be a path to a state_dict file, got {self.parent!r}")
        if self.parent is None and self.recipe.distill > 0:
            raise ValueError("recipe.distill needs a parent to learn from: set \"parent\" to the trained dense network's "
                             "weights (a point exported from a --start parent run has it), or set distill to 0")

    def to_dict(self) -> dict[str, Any]:
        d = {
            "model": self.model.to_dict() if self.model else None, "data": asdict(self.data),
            "recipe": asdict(self.recipe), "seed": self.seed,
        }
        if self.parent is not None:
            d["parent"] = self.parent
        if self.threads is not None:
            d["threads"] = self.threads
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "configuration") -> "TrainConfig":
        """ValueError naming ``source`` and the field on anything malformed."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object with model, data, recipe and seed")
        missing = [k for k in ("model", "data") if k not in data]
        if missing:
            raise ValueError(f"{source}: missing {', '.join(missing)}; export one with `ranksearch export`")
        unknown = sorted(set(data) - {"model", "data", "recipe", "seed", "parent", "threads"})
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {', '.join(unknown)}")
        try:
            model = spec_from_dict(data["model"])
            data_cfg = data_from_dict(data["data"])
            recipe = recipe_from_dict(data["recipe"]) if "recipe" in data else make_recipe("fast", data_cfg.dataset)
            return cls(model, data_cfg, recipe, data.get("seed", 0), data.get("parent"), data.get("threads"))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{source}: {e}") from None

    def save(self, path: str | Path) -> None:
        write_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(read_json(path), source=str(path))


def read_json(path: str | Path) -> Any:
    """Parse a JSON file, or raise ValueError naming the file and the problem."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: no such file")
    try:
        return json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{p}: not valid JSON ({e})") from None


@dataclass
class SearchConfig:
    """One rank search: what ``ranksearch run`` resolves its flags to and saves as config.json.

    ``storage`` None means the embedded SQLite file ``study.db`` in the run folder, found
    relative to the folder, so a moved or copied folder reads its own study.
    """

    data: DataConfig
    recipe: Recipe
    family: str = "all"  # the search space (ranksearch.space): all, mixed, or one family with a rank
    objectives: tuple[str, ...] = ("params",)  # minimised beside validation accuracy
    budget: int = 50
    seed: int = 0
    study_name: str = ""
    storage: str | None = None
    timeout: float | None = None
    pruner: str = "moasha"
    sampler: str = "tpe"
    device: str = "auto"
    warm_start: bool = True  # queue candidates read off the trained dense network (ranksearch.starts)
    warm_shares: tuple[float, ...] = WARM_SHARES  # the warm starts allocated to a parameter budget, in this order
    # "parent": candidates inherit the trained dense network's weights and fine-tune (``finetune``);
    # "scratch": every network trains from scratch with ``recipe``, as the paper's setting does.
    start: str = "parent"
    finetune: Recipe | None = None  # None: finetune_recipe(recipe) under start="parent"
    baselines: tuple[str, ...] | None = None  # None: DEFAULT_BASELINES (the reference network) or NETWORK_BASELINES
    confirm_seeds: int = 2  # after the search, the networks the verdict names trained again with this many more seeds
    # The network searched: None for the paper's reference network of the data; else a user's or a
    # library's network, {"source": "torchvision.models:resnet18", "kwargs": {...}, "weights": file or null}.
    model: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_objectives(self.objectives)
        self.objectives = canonical_objectives(self.objectives)  # latency:onnx -> latency-onnx
        _check_choice("start", self.start, STARTS)
        if self.start == "parent" and self.finetune is None:
            self.finetune = finetune_recipe(self.recipe, finetune_epochs(self.recipe.epochs), self.given_weights)
        if self.start == "scratch":
            self.finetune = None
        if self.baselines is None:
            self.baselines = DEFAULT_BASELINES if self.model is None else NETWORK_BASELINES
        self.baselines = tuple(self.baselines)
        self.warm_shares = tuple(self.warm_shares)
        for share in self.warm_shares:
            _check_number("warm_shares", share, 0, 1, low_open=True)
        for name in self.baselines:
            if parse_baseline(name)[1] != 1 and self.model is not None:
                raise ValueError(f"baselines: {name} scales the widths of the paper's reference network; a network "
                                 "of your own has only conv and separable baselines")
        _check_int("budget", self.budget)
        _check_int("confirm_seeds", self.confirm_seeds, 0)
        _check_seed(self.seed)
        if self.timeout is not None:
            _check_number("timeout", self.timeout, 0, low_open=True)
        _check_choice("device", self.device, ("auto", "cpu", "cuda"))
        check_space(self.family)
        if self.model is not None:
            if not isinstance(self.model, dict) or not isinstance(self.model.get("source"), str) \
                    or set(self.model) - {"source", "kwargs", "weights"} or not isinstance(self.model.get("kwargs", {}), dict):
                raise ValueError(f"model must be {{\"source\": \"module:Name\", \"kwargs\": {{...}}, \"weights\": file}}, got {self.model!r}")
            self.model = {"source": self.model["source"], "kwargs": dict(self.model.get("kwargs") or {}),
                          "weights": self.model.get("weights")}
        check_pruner(self.pruner)
        check_sampler(self.sampler)

    @property
    def given_weights(self) -> bool:
        """Whether the parent is a user's trained network (``model`` with ``weights``), not trained here."""
        return self.model is not None and bool(self.model.get("weights"))

    @property
    def candidate_recipe(self) -> Recipe:
        """How a candidate trains: fine-tuned from the parent, or the recipe from scratch."""
        return self.finetune if self.start == "parent" else self.recipe

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (config.json, the study's saved configuration): a storage password is never in it."""
        d = asdict(self)
        d["objectives"] = list(self.objectives)
        d["baselines"] = list(self.baselines)
        if self.storage is not None:
            d["storage"] = without_password(self.storage)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "search configuration") -> "SearchConfig":
        """Read a saved configuration, including the form written before pruners had names."""
        if not isinstance(d, dict):
            raise ValueError(f"{where} must be a JSON object")
        d = dict(d)
        legacy_pruning = d.pop("pruning", None)
        if legacy_pruning is not None and "pruner" not in d:
            d["pruner"] = "margin" if legacy_pruning else "none"
        d.pop("extra", None)  # nothing read it
        d.pop("out", None)  # a run folder is where its config.json is
        d.setdefault("start", "scratch")  # written before candidates inherited: they trained from scratch
        d.setdefault("baselines", list(NETWORK_BASELINES))  # written before width baselines: these two
        d.setdefault("confirm_seeds", 0)  # written before confirmations existed
        try:
            d["data"] = data_from_dict(d.get("data"), f"{where}: data")
            d["recipe"] = recipe_from_dict(d.get("recipe"), f"{where}: recipe")
            if d.get("finetune") is not None:
                d["finetune"] = recipe_from_dict(d["finetune"], f"{where}: finetune")
            return cls(**_known(cls, d, where))
        except TypeError as e:
            raise ValueError(f"{where}: {e}") from None
