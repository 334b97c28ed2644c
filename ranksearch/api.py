"""The Python API: what the command line does, as functions that return objects.

    import ranksearch
    result = ranksearch.run(dataset="fashion-mnist", data_dir="../shared/datasets", budget=20,
                            epochs=3, train_subset=5000, out="runs/fmnist")
    result.front            # pandas DataFrame, one row per Pareto-optimal candidate
    result.trials           # every candidate and baseline (trials.csv)
    point = result.export(max_params=5000)   # a configuration dict, what `ranksearch train --config` reads
    trained = ranksearch.train(point, epochs=30)
    again = ranksearch.load("runs/fmnist")   # the same object for a finished run folder

Keyword arguments mirror the command line's flags (``data_dir`` for ``--data-dir``); a
``config`` (a ``SearchConfig``, its dict, or a JSON file such as a study definition in
``studies/``) is the starting point that the keywords override. Mistakes raise ``ValueError``
or ``ranksearch.UserError`` with one line saying what is wrong.
"""

from __future__ import annotations

import json
import sys
from dataclasses import MISSING, dataclass, fields, replace
from pathlib import Path
from typing import Any, TextIO

import optuna
import pandas as pd

from lightlayers import NetworkSpec

from ranksearch.config import (
    DEFAULT_BASELINES, RECIPE_NAMES, DataConfig, SearchConfig, TrainConfig, finetune_recipe, given_finetune, make_recipe,
)
from ranksearch.config_files import point_dict, search_dict
from ranksearch.progress import Progress
from ranksearch.results import Tables, front_records, point_config, study_tables, trials_frame
from ranksearch.storage import open_run
from ranksearch.storage_url import EMBEDDED_FILE, sqlite_path
from ranksearch.trainer import resolve_device

# The keyword settings of a search, as ``ranksearch run``'s flags name them; their defaults are the
# fields of SearchConfig, DataConfig and the named recipe (``setting_defaults``).
SEARCH_SETTINGS = (
    "dataset", "data_dir", "train_subset", "val_fraction", "epochs", "recipe", "precision", "seed", "device", "budget",
    "family", "objectives", "sampler", "pruner", "storage", "study", "timeout", "warm_start", "model", "model_args",
    "weights", "start", "finetune_epochs", "baselines", "confirm_seeds", "warm_shares",
)
_DATA_KEYS = ("dataset", "data_dir", "train_subset", "val_fraction")
TRAIN_SETTINGS = (*_DATA_KEYS, "recipe", "epochs", "precision", "seed", "threads", "device")
_TOP_KEYS = ("family", "sampler", "pruner", "storage", "timeout", "seed", "budget", "warm_start", "device", "start",
             "confirm_seeds")


def setting_defaults() -> dict[str, Any]:
    """Every search setting's default, read from the configuration dataclasses (for --help)."""
    defaults = {f.name: f.default for f in fields(SearchConfig) if f.default is not MISSING}
    defaults.update({f.name: f.default for f in fields(DataConfig) if f.default is not MISSING})
    defaults["objectives"] = ",".join(defaults["objectives"])
    defaults["recipe"] = RECIPE_NAMES[0]
    defaults["baselines"] = ",".join(DEFAULT_BASELINES)
    defaults["warm_shares"] = ",".join(str(s) for s in defaults["warm_shares"])
    return defaults


def network_source(source: str, model_args: str | dict | None = None, weights: str | Path | None = None) -> dict[str, Any]:
    """The search's ``model`` setting: a network's source, its arguments (a dict or JSON text) and trained weights."""
    if isinstance(model_args, str):
        try:
            model_args = json.loads(model_args)
        except json.JSONDecodeError as e:
            raise ValueError(f"model_args must be a JSON object such as '{{\"num_classes\": 10}}' ({e})") from None
    if model_args is not None and not isinstance(model_args, dict):
        raise ValueError(f"model_args must be a JSON object, got {model_args!r}")
    _check_weights(source, weights)
    return {"source": portable_source(source), "kwargs": model_args or {},
            "weights": str(Path(weights).resolve()) if weights else None}


def _check_weights(source: str, weights: str | Path | None) -> None:
    if weights and not Path(weights).is_file():
        raise ValueError(f"weights {weights}: no such file (the trained {source}'s state_dict: give its place with "
                         f"--weights FILE, or train it first, `ranksearch train --model {source} --save FILE`; a "
                         "committed study's run.sh says with what)")


def portable_source(source: str) -> str:
    """A model source that builds from any folder: a file path made absolute (``mynet.py:Net`` -> ``/home/me/mynet.py:Net``)."""
    where, colon, name = source.rpartition(":")
    if colon and where.endswith(".py") and Path(where).is_file():
        return f"{Path(where).resolve()}:{name}"
    return source


def _portable(data: DataConfig) -> DataConfig:
    """Data whose folder is absolute, so a configuration written now reads the same data from any folder."""
    return replace(data, data_dir=str(Path(data.data_dir).resolve())) if data.data_dir else data


def _names(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(value.split(",")) if isinstance(value, str) else tuple(value)


def _shares(value: str | float | tuple[float, ...] | list[float]) -> tuple[float, ...]:
    if isinstance(value, str):
        try:
            return tuple(float(v) for v in value.split(","))
        except ValueError:
            raise ValueError(f"warm_shares must be numbers separated by commas, such as 0.3,0.5, got {value!r}") from None
    return (value,) if isinstance(value, (int, float)) else tuple(value)


def search_config(config: SearchConfig | dict | str | Path | None = None, **settings: Any) -> SearchConfig:
    """The search that ``config`` and the keyword settings describe (settings win; None means "not given")."""
    given = {k: v for k, v in settings.items() if v is not None}
    unknown = sorted(set(given) - set(SEARCH_SETTINGS))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(SEARCH_SETTINGS)}")
    if isinstance(config, SearchConfig):
        base = config
    elif config is not None:
        base = SearchConfig.from_dict(search_dict(config), str(config) if isinstance(config, (str, Path)) else "config")
        path = sqlite_path(base.storage or "")
        if (isinstance(config, (str, Path)) and path is not None and path.name == EMBEDDED_FILE and not path.exists()
                and path.parent.name == Path(config).resolve().parent.name):  # a run folder's config.json, moved since
            base = replace(base, storage=None)  # (studies/*/config.json): the study.db of this run's own folder
    else:
        for required in ("dataset", "budget"):
            if required not in given:
                raise ValueError(f"{required} is required (or give a config)")
        base = None
    device = given.get("device", base.device if base else "auto")
    if base is None:
        data = DataConfig(**{k: given[k] for k in _DATA_KEYS if k in given})
        recipe = make_recipe(given.get("recipe", RECIPE_NAMES[0]), data.dataset, given.get("epochs"), resolve_device(device).type)
    else:
        data = replace(base.data, **{k: given[k] for k in _DATA_KEYS if k in given})
        recipe = base.recipe
        if "recipe" in given and given["recipe"] != recipe.name:
            recipe = make_recipe(given["recipe"], data.dataset, recipe.epochs, resolve_device(device).type)
        if "epochs" in given:
            recipe = replace(recipe, epochs=given["epochs"])
    if "precision" in given:
        recipe = replace(recipe, precision=given["precision"])
    top = {k: given[k] for k in _TOP_KEYS if k in given}
    if "model" in given:
        top["model"] = network_source(given["model"], given.get("model_args"), given.get("weights"))
    elif "weights" in given or "model_args" in given:  # for the configuration's own network, or refused
        if base is None or base.model is None:
            raise ValueError("weights and model_args are for a network of your own: name it with --model SOURCE")
        top["model"] = network_source(base.model["source"], given.get("model_args", base.model["kwargs"]),
                                      given.get("weights", base.model["weights"]))
    if "objectives" in given:
        top["objectives"] = _names(given["objectives"])
    if "baselines" in given:
        top["baselines"] = _names(given["baselines"])
    if "warm_shares" in given:
        top["warm_shares"] = _shares(given["warm_shares"])
    if "study" in given:
        top["study_name"] = given["study"]
    if base is not None and ("epochs" in given or "recipe" in given or "precision" in given or "start" in given):
        top["finetune"] = None  # derived again from the recipe it fine-tunes
    if "finetune_epochs" in given:
        epochs = given["finetune_epochs"]
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"finetune_epochs must be an integer >= 1, got {epochs!r}")
        model = top.get("model", base.model if base is not None else None)
        top["finetune"] = finetune_recipe(recipe, epochs, model is not None and bool(model.get("weights")))
    data = _portable(data)
    cfg = SearchConfig(data=data, recipe=recipe, **top) if base is None else replace(base, data=data, recipe=recipe, **top)
    if "finetune_epochs" in given and cfg.start == "scratch":
        raise ValueError("--finetune-epochs is how long a candidate fine-tunes from the parent (--start parent); under "
                         "--start scratch every network trains --epochs: drop one")
    if "warm_shares" in given and not cfg.warm_start:
        raise ValueError("--warm-shares places warm starts, which --no-warm-start turns off: drop one")
    if cfg.model is not None:
        _check_weights(cfg.model["source"], cfg.model["weights"])
    if not cfg.study_name:
        network = f"-{cfg.model['source'].rpartition(':')[2]}" if cfg.model else ""
        cfg = replace(cfg, study_name=f"{Path(cfg.data.dataset).name}{network}-{cfg.family}")
    return cfg


@dataclass
class SearchResult:
    """A search's results: the front, the baselines and every trial, and the run folder they live in."""

    config: SearchConfig
    study: optuna.Study
    tables: Tables
    folder: Path | None
    reason: str | None = None  # why the search stopped; None for a loaded run
    seconds: float | None = None
    storage_url: str | None = None  # where the study is, for a result without a run folder (loaded by storage URL)

    @property
    def trials(self) -> pd.DataFrame:
        """Every candidate and baseline, as trials.csv has them."""
        return trials_frame(self.tables)

    @property
    def front(self) -> pd.DataFrame:
        """The Pareto-optimal candidates (validation accuracy vs trainable parameters), fewest parameters first."""
        frame = self.trials
        return frame[frame.on_front.astype(bool)].sort_values("trainable_params").reset_index(drop=True)

    @property
    def baselines(self) -> pd.DataFrame:
        frame = self.trials
        return frame[frame.role == "baseline"].reset_index(drop=True)

    def front_records(self) -> list[dict[str, Any]]:
        """front.json: each front member with the configuration that retrains it."""
        return front_records(self.tables.front, self.config, self.tables.parent_weights)

    def export(self, trial: int | None = None, *, max_params: int | None = None, max_flops: int | None = None,
               take: bool = False, baseline: str | None = None, to: str | Path | None = None) -> dict[str, Any]:
        """The configuration that trains a row again as the search trained it: trial ``trial``; the most
        accurate front member within ``max_params``; what the verdict takes (``take=True``); or a
        baseline by name (``"separable"``, ``"conv@0.5"``, ``"parent"``)."""
        row = self.row(trial, max_params=max_params, max_flops=max_flops, take=take, baseline=baseline)
        config = point_config(row, self.config, self.tables.parent_weights)
        if to is not None:
            from ranksearch.atomic import make_parent
            from ranksearch.outputs import json_text, write_atomic

            write_atomic(make_parent(to) / Path(to).name, json_text(config))
        return config

    def row(self, trial: int | None = None, *, max_params: int | None = None, max_flops: int | None = None,
            take: bool = False, baseline: str | None = None):
        """The row ``export`` picks (``ranksearch.rows.Record``; see ``ranksearch.picks``)."""
        from ranksearch.picks import pick_row

        return pick_row(self.tables, self.config, trial, max_params=max_params, max_flops=max_flops, take=take,
                        baseline=baseline)

    @property
    def verdict(self):
        """Which model to take and why (``ranksearch.verdict.Verdict``: ``lines()``, ``to_dict()``)."""
        from ranksearch.verdict import verdict

        return verdict(self.tables, self.config)

    def write(self) -> Path:
        """Write the run folder's files as a finished search leaves them (trials.csv, front.json,
        config.json, summary.json, report.html); return the report's path."""
        from ranksearch.outputs import write_summary, write_tables
        from ranksearch.report import write_report

        if self.folder is None:
            raise ValueError("this result has no run folder")
        write_tables(self.tables, self.config, self.folder)
        write_summary(self.verdict.to_dict(), self.folder)
        return write_report(self.tables, self.config, self.study.study_name, self.folder, str(self.folder))

    def report(self, out: str | Path | None = None) -> Path:
        """Write report.html and summary.json (into the run folder unless ``out`` is given); return the report's
        path. As ``ranksearch report --out``: a folder of its own gets the tables too, so its commands work there."""
        from ranksearch.report import rebuild_report

        if self.folder is None and out is None:
            raise ValueError("this result has no run folder: give out=")
        return rebuild_report(None if self.folder is None else str(self.folder), self.storage_url,
                              self.study.study_name, None if out is None else str(out))


def _progress(progress: bool | TextIO | Progress | None) -> Progress:
    if isinstance(progress, Progress):
        return progress
    if progress is False:
        return Progress(open("/dev/null", "w"), live=False)
    return Progress(sys.stderr if progress in (None, True) else progress)


def run(config: SearchConfig | dict | str | Path | None = None, *, out: str | Path | None = None,
        jobs: int | str = "auto", progress: bool | TextIO | Progress | None = None, **settings: Any) -> SearchResult:
    """Run (or continue) a search and return its results; ``settings`` mirror ``ranksearch run``'s flags.

    ``out`` is the run folder (default ``runs/<study name>``); ``jobs`` the training processes
    on this machine (``auto``: one per core); ``progress`` False for silence, or a stream. At the
    end the folder holds what ``ranksearch run`` leaves: report.html and summary.json too.
    """
    result = _search(config, out=out, jobs=jobs, progress=progress, **settings)
    result.write()
    return result


def _search(config: SearchConfig | dict | str | Path | None = None, *, out: str | Path | None = None,
            jobs: int | str = "auto", progress: bool | TextIO | Progress | None = None, **settings: Any) -> SearchResult:
    """``run`` but the files of its end: the command line prints the results before it writes them."""
    from ranksearch.lifecycle import run_search

    cfg = search_config(config, **settings)
    folder = Path(out) if out is not None else Path("runs") / cfg.study_name
    outcome = run_search(cfg, folder, _progress(progress), jobs=jobs)
    return SearchResult(cfg, outcome.study, outcome.tables, folder, outcome.reason, outcome.seconds)


def load(run_dir: str | Path | None = None, *, storage: str | None = None, study: str | None = None) -> SearchResult:
    """A finished (or running) search: from its run folder, or by storage URL and study name."""
    opened = open_run(run_dir, storage, study)
    return SearchResult(opened.config, opened.study, study_tables(opened.study, opened.config, opened.folder), opened.folder,
                        storage_url=None if opened.folder is not None else opened.url)


def export(run_dir: str | Path, trial: int | None = None, *, max_params: int | None = None,
           max_flops: int | None = None, take: bool = False, baseline: str | None = None, to: str | Path | None = None,
           format: str | None = None, input: str = "float", device: str = "auto",
           progress: bool | TextIO | Progress | None = None):
    """A chosen point's configuration from a run folder (see ``SearchResult.export``), a dict.

    With ``format`` "onnx", "torchscript" or "checkpoint" (or ``to`` ending in .onnx or .ts), the
    trained network written to ``to`` and checked, trained first unless the run kept its weights
    (``ranksearch.export_run``; ``input`` "uint8" bakes the normalisation in): an ``Exported``.
    """
    from ranksearch.export_run import export_format, export_point

    chosen = export_format(to, format) if to is not None else format or "config"
    if chosen != "config":
        if to is None:
            raise ValueError(f"format {format} writes a file: give to= its path")
        return export_point(run_dir, trial, max_params=max_params, max_flops=max_flops, take=take, baseline=baseline,
                            to=to, format=format, input=input, device=device, progress=_progress(progress))
    if input != "float":
        raise ValueError(f"input {input} is for a network file: write to a .onnx or .ts file, or give format onnx or torchscript")
    return load(run_dir).export(trial, max_params=max_params, max_flops=max_flops, take=take, baseline=baseline, to=to)


def train_config(config: TrainConfig | dict | str | Path | None = None, **settings: Any) -> TrainConfig:
    """A point configuration: ``config`` (an exported point) with settings overriding it, or a new one
    from ``dataset`` (its model chosen later by ``family`` and ``rank`` in ``train``)."""
    given = {k: v for k, v in settings.items() if v is not None}
    unknown = sorted(set(given) - set(TRAIN_SETTINGS))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(TRAIN_SETTINGS)}")
    device = given.get("device", "auto")
    if isinstance(config, TrainConfig):
        cfg = config
    elif config is not None:
        data = point_dict(config)
        cfg = TrainConfig.from_dict(data, str(config) if isinstance(config, (str, Path)) else "config")
    elif "dataset" in given:
        cfg = TrainConfig(None, DataConfig(dataset=given["dataset"]),
                          make_recipe(given.get("recipe", "fast"), given["dataset"], device=resolve_device(device).type))
    else:
        raise ValueError("give a config (an exported point), or dataset with family (and rank)")
    data = _portable(replace(cfg.data, **{k: given[k] for k in _DATA_KEYS if k in given}))
    recipe = cfg.recipe
    if given.get("recipe") and (config is None or given["recipe"] != recipe.name):
        recipe = make_recipe(given["recipe"], data.dataset, device=resolve_device(device).type)
    if "epochs" in given:
        recipe = replace(recipe, epochs=given["epochs"])
    if "precision" in given:
        recipe = replace(recipe, precision=given["precision"])
    return TrainConfig(cfg.model, data, recipe, given.get("seed", cfg.seed), cfg.parent, given.get("threads", cfg.threads))


def train(config: TrainConfig | dict | str | Path | None = None, *, family: str | None = None, rank: int | None = None,
          model: str | None = None, model_args: str | dict | None = None, weights: str | Path | None = None,
          save: str | Path | None = None, device: str = "auto", progress: bool | TextIO | Progress | None = None,
          format: str | None = None, input: str = "float", **settings: Any):
    """Train one configuration and return a ``PointResult`` (summary: accuracies, parameters, seconds; the model).

    The network: the configuration's (an exported point), or the reference network of ``family``
    (and ``rank``), or ``model`` (a source such as ``torchvision.models:resnet18``) unmodified.
    ``weights`` without ``model``: where the trained base network of a configuration of your own
    network is now (it names the file the search factorised, which may have moved).
    ``save``: a file to write it to, as ``format`` (default: its suffix's, ``ranksearch.deploy``).
    """
    from ranksearch.point import train_point

    cfg = train_config(config, device=device, **settings)
    if weights is not None and model is None:
        if not isinstance(cfg.model, NetworkSpec) or family is not None:
            raise ValueError(f"weights {weights}: say whose they are with --model SOURCE (the network they were saved from)")
        if not Path(weights).is_file():
            raise ValueError(f"weights {weights}: no such file")
        new = str(Path(weights).resolve())  # the point's base network, moved; its parent too when it is that network as given
        cfg = replace(cfg, model=replace(cfg.model, weights=new), parent=new if cfg.parent == cfg.model.weights else cfg.parent)
    network = network_source(model, model_args, weights) if model is not None else None
    if network is not None and network["weights"] and cfg.recipe.name == "finetune":
        cfg = replace(cfg, recipe=given_finetune(cfg.recipe))  # as the search fine-tunes a user's trained network
    return train_point(cfg, _progress(progress), family=family, rank=rank, network=network, device=device, save=save,
                       format=format, input=input)
