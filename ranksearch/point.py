"""Train one configuration (``ranksearch train``): a reference network or an exported point."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from lightlayers import ModelSpec, NetworkSpec, build_model, count_model, reference_spec, reference_spec_for_shape
from lightlayers.network import check_outputs, load_state

from ranksearch.atomic import check_parent, make_parent
from ranksearch.config import TrainConfig
from ranksearch.data import REFERENCE_NAMES, Splits, load_splits
from ranksearch.deploy import Trained, Written, check_format, format_for_path, write
from ranksearch.errors import UserError, model_failure
from ranksearch.labels import epochs
from ranksearch.progress import Progress
from ranksearch.hardware import cores
from ranksearch.trainer import normalization, resolve_device, train


def reference_model(dataset: str, splits: Splits, family: str, rank: int | None) -> ModelSpec:
    """The paper's network of ``family`` for a reference dataset, or the paper's shape for any data."""
    try:
        if dataset in REFERENCE_NAMES:
            return reference_spec(dataset, family, rank)
        return reference_spec_for_shape(splits.in_channels, splits.image_size, splits.num_classes, family, rank)
    except ValueError as e:
        raise UserError(str(e)) from None


def check_spec_fits(spec: ModelSpec | NetworkSpec, splits: Splits) -> None:
    if (spec.in_channels, spec.image_size, spec.num_classes) != (splits.in_channels, splits.image_size, splits.num_classes):
        raise UserError(
            f"the model expects {spec.in_channels}x{spec.image_size}x{spec.image_size} images and "
            f"{spec.num_classes} classes, but the data has {splits.in_channels}x{splits.image_size}x"
            f"{splits.image_size} images and {splits.num_classes} classes"
        )


def check_base_weights(spec: ModelSpec | NetworkSpec) -> None:
    """A configuration of a network of your own names the trained weights it was factorised from; say how to get
    them back when that file is gone (a committed study keeps the configuration, not 45 MB of weights)."""
    if isinstance(spec, NetworkSpec) and spec.weights and not Path(spec.weights).is_file():
        raise UserError(f"weights {spec.weights}: no such file (the trained {spec.source} this configuration "
                        f"factorises); `ranksearch train --config POINT.json --weights FILE` takes them where they are now (export "
                        f"writes POINT.json with -o POINT.json), or train the network first (`ranksearch train "
                        f"--model {spec.source} --save FILE`; its study's run.sh says with what)")


@dataclass
class PointResult:
    config: TrainConfig
    summary: dict[str, Any]
    model: torch.nn.Module
    written: Written | None = None  # the file --save wrote and how it checked


def train_point(
    cfg: TrainConfig,
    progress: Progress,
    *,
    family: str | None = None,
    rank: int | None = None,
    network: dict | None = None,
    device: str = "auto",
    save: str | Path | None = None,
    format: str | None = None,
    input: str = "float",
) -> PointResult:
    """Train ``cfg``'s model; or, when ``family`` is given, the reference network of that family for
    the data; or, when ``network`` is given ({source, kwargs, weights}), that network unmodified.

    ``save``: write the trained network there as ``format`` (default: the one its suffix names,
    else a checkpoint), taking ``input`` (``ranksearch.deploy``: formats, metadata, the check)."""
    if save is not None:
        check_parent(save)
        format = format or format_for_path(save, "checkpoint")
        check_format(format, input)
    elif input != "float":
        raise UserError(f"input {input} is for a file the trained network is written to: add --save FILE.onnx or FILE.ts")
    if cfg.model is not None:
        check_base_weights(cfg.model)  # before the data: decoding a dataset takes a while
    data, splits = load_splits(cfg.data, lambda s: progress.line(f"data {cfg.data.dataset}: {s}"))
    for note in data.notes:
        progress.line(f"data {cfg.data.dataset}: {note}")
    if family is not None:
        cfg = replace(cfg, model=reference_model(cfg.data.dataset, splits, family, rank))
    elif network is not None:
        try:
            spec = NetworkSpec(network["source"], splits.in_channels, splits.image_size, splits.num_classes,
                               network["kwargs"], weights=network["weights"])
            check_outputs(spec)
        except ValueError as e:
            raise UserError(str(e)) from None
        cfg = replace(cfg, model=spec)
    if cfg.model is None:
        raise UserError("no model: give --family F or a --config with a model")
    check_spec_fits(cfg.model, splits)
    counts = count_model(build_model(cfg.model))
    progress.line(
        f"training {cfg.data.dataset}: {counts.trainable_params:,} parameters, {counts.flops:,} FLOPs, "
        f"{len(splits.train_y):,} train / {len(splits.val_y):,} val / {len(splits.test_y):,} test images, "
        f"recipe {cfg.recipe.name}, {epochs(cfg.recipe.epochs)}"
        + (f", {cfg.threads} CPU thread{'s' if cfg.threads != 1 else ''} as the search trained it (--threads N, or threads=N in Python, for more)"
           if cfg.threads is not None and resolve_device(device).type == "cpu" and cfg.threads < cores() else "")
    )

    event = {"job": 0, "who": "training", "params": counts.trainable_params, "epochs": cfg.recipe.epochs, "val": None}

    def on_step(epoch: int, step: int, steps: int) -> None:
        progress.step({**event, "epoch": epoch, "step": step, "steps": steps})

    def on_epoch(epoch: int, val_acc: float) -> None:
        event["val"] = val_acc
        if progress.live:
            progress.step({**event, "epoch": epoch})
        else:
            progress.line(f"epoch {epoch}/{cfg.recipe.epochs}  val_accuracy {val_acc:.4f}")

    parent = None
    if cfg.parent is not None:
        try:
            parent = load_state(cfg.parent)
        except ValueError as e:
            raise UserError(f"{e} (the configuration's parent, which the model inherits from); if its run folder "
                            "moved, `ranksearch export RUN_FOLDER --trial N -o point.json` writes the configuration "
                            "with the parent beside it") from None
        progress.line(f"inheriting from the parent {cfg.parent}, factorised layer by layer")
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)  # the figures of a search point reproduce only with its thread count
    try:
        result = train(cfg.model, splits, cfg.recipe, seed=cfg.seed, device=device, on_epoch=on_epoch, on_step=on_step,
                       parent=parent)
    except ValueError as e:  # the parent's weights do not fit this network
        raise UserError(str(e)) from None
    except Exception as e:  # a user's network whose own code raised: training it again cannot help
        if not isinstance(cfg.model, NetworkSpec) or isinstance(e, UserError):
            raise
        raise model_failure("training", cfg.model.source, e) from None
    finally:
        progress.close()
    summary = {
        "trainable_params": counts.trainable_params,
        "keras_params": counts.keras_params,
        "flops": counts.flops,
        "val_accuracy": result.val_accuracy,
        "test_accuracy": result.test_accuracy,
        "val_curve": result.val_curve,
        "epochs": result.epochs_run,
        "seconds": round(result.seconds, 2),
        "images_per_second": round(result.images_per_second, 1),
        "threads": torch.get_num_threads(),
    }
    progress.line(
        f"done in {result.seconds:.1f}s ({result.images_per_second:,.0f} images/s): "
        f"val_accuracy {result.val_accuracy:.4f}, test_accuracy {result.test_accuracy:.4f}"
    )
    written = None
    if save is not None:
        mean, std = normalization(splits, cfg.recipe)
        trained = Trained(result.model, cfg.to_dict(), summary, mean.tolist(), std.tolist(), list(data.classes))
        make_parent(save)
        written = write(trained, save, format, input, pixels=splits.test_x)
        progress.line(written.line())
    return PointResult(cfg, summary, result.model, written)
