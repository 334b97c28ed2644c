"""A run folder's chosen point as a file to take home: from the run's saved weights, or trained first.

A run folder holds how to train each network (its configuration), not trained networks. So
exporting a point as ONNX, TorchScript or a checkpoint trains it first with its recorded
configuration, exactly as ``ranksearch train --config`` does (the parent it inherits from and
its fine-tune recipe included), and says so before it starts, with the seconds the search spent
training it. When the folder holds the point's weights (``weights/trial-N.pt``, a checkpoint as
``ranksearch train --save`` writes it), they are used and nothing trains. A configuration
(``config``) is written as it always was, without training.

The format follows ``--format``, else the output's suffix: ``.onnx``, ``.ts``, ``.torchscript``
(``.torchscript.pt``) name theirs; any other suffix means the configuration JSON, so a point
exported to ``point.pt`` stays what it was before models were exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ranksearch.atomic import check_parent, make_parent
from ranksearch.config import TrainConfig
from ranksearch.deploy import Trained, Written, check_format, format_for_path, load_checkpoint, write
from ranksearch.errors import UserError
from ranksearch.labels import duration
from ranksearch.point import train_point
from ranksearch.progress import Progress
from ranksearch.picks import pick_row
from ranksearch.results import Row, point_config, study_tables
from ranksearch.storage import open_run

WEIGHTS_FOLDER = "weights"


def export_format(path: str | Path, format: str | None = None) -> str:
    """``format`` when given, else the one ``path``'s suffix names for an export (see the module rules)."""
    if format is not None:
        return format
    named = format_for_path(path, "config")
    return named if named in ("onnx", "torchscript") else "config"


def saved_weights(folder: Path | None, number: int) -> Path | None:
    """The checkpoint of trial ``number`` a run folder keeps, or None (runs keep none unless asked to)."""
    if folder is None:
        return None
    path = folder / WEIGHTS_FOLDER / f"trial-{number}.pt"
    return path if path.is_file() else None


@dataclass
class Exported:
    """A point written as a file: which trial, how it was obtained, and how the file checked."""

    row: Row
    config: dict[str, Any]
    written: Written
    trained: bool  # trained for this export; False: the run's saved weights
    summary: dict[str, Any] | None  # the accuracies of the network written, when trained for it

    @property
    def number(self) -> int:
        return self.row.number

    def lines(self) -> list[str]:
        """What ``ranksearch export`` prints: the point, how the file was obtained and how it checked."""
        r, w = self.row, self.written
        how = (f"trained again: val {self.summary['val_accuracy']:.4f}, test {self.summary['test_accuracy']:.4f}"
               if self.trained else "from the run's saved weights")
        out = [f"{r.key}: {r.trainable_params:,} parameters, val {r.val_accuracy:.4f}, test {r.test_accuracy:.4f} "
               f"in the search; {how} -> {w.path} ({w.format}, max abs difference {w.max_abs_diff:.2e} from PyTorch "
               f"over {w.batch} images)"]
        if w.format == "onnx":
            out.append(f"run it: onnxruntime.InferenceSession({str(w.path)!r}); how to normalise its input is in its "
                       "metadata (get_modelmeta().custom_metadata_map['normalization'])")
        elif w.format == "torchscript":
            out.append(f"run it: torch.jit.load({str(w.path)!r}); how to normalise its input is in its extra file "
                       "'normalization'")
        return out


def _from_saved(path: Path, config: dict[str, Any], number: int) -> Trained:
    trained = load_checkpoint(path)
    if trained.config["model"] != config["model"]:
        raise UserError(f"{path} holds another network than trial {number}; remove it or choose another trial")
    if trained.mean is None:  # a checkpoint from before it recorded its normalisation: the data says
        from ranksearch.data import load_splits
        from ranksearch.trainer import normalization

        cfg = TrainConfig.from_dict(config)
        mean, std = normalization(load_splits(cfg.data)[1], cfg.recipe)
        trained.mean, trained.std = mean.tolist(), std.tolist()
    return trained


def export_point(run_dir: str | Path, trial: int | None = None, *, max_params: int | None = None,
                 max_flops: int | None = None, take: bool = False, baseline: str | None = None, to: str | Path,
                 format: str | None = None, input: str = "float", device: str = "auto", progress: Progress) -> Exported:
    """The chosen row (``ranksearch.picks``) written to ``to`` as ``format`` (see the module rules)."""
    format = export_format(to, format)
    check_format(format, input)
    check_parent(to)
    run = open_run(run_dir)
    tables = study_tables(run.study, run.config, run.folder)
    row = pick_row(tables, run.config, trial, max_params=max_params, max_flops=max_flops, take=take, baseline=baseline)
    make_parent(to)  # the row exists: now the folder, before any training
    config = point_config(row, run.config, tables.parent_weights)
    if format == "config":
        return Exported(row, config, write(Trained(None, config, {}, None, None), to, "config"), False, None)
    saved = saved_weights(run.folder, row.number)
    if saved is not None:
        progress.line(f"{row.key}: using its saved weights {saved}")
        written = write(_from_saved(saved, config, row.number), to, format, input)
        progress.line(written.line())
        return Exported(row, config, written, False, None)
    try:
        cfg = TrainConfig.from_dict(config, f"{row.key}'s configuration")
    except ValueError as e:
        raise UserError(str(e)) from None
    inherits = f", inheriting from the parent {cfg.parent}" if cfg.parent else ""
    progress.line(
        f"{row.key}: the run folder keeps no trained weights, so it trains first with its recorded "
        f"configuration (as `ranksearch train --config` does): recipe {cfg.recipe.name}, {cfg.recipe.epochs} "
        f"epoch{'s' if cfg.recipe.epochs != 1 else ''}"
        f"{inherits}; the search trained it in {duration(row.seconds)}"
    )
    result = train_point(cfg, progress, device=device, save=to, format=format, input=input)
    return Exported(row, config, result.written, True, result.summary)

