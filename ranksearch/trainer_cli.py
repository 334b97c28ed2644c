"""``ranksearch train``: resolve a point configuration from --config and flags, train it, report."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import torch

from lightlayers import build_model, count_model, reference_spec, reference_spec_for_shape

from ranksearch.config import DataConfig, TrainConfig, make_recipe
from ranksearch.data import REFERENCE_NAMES, load_splits
from ranksearch.errors import UserError
from ranksearch.progress import Progress, bar
from ranksearch.train import resolve_device, train


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """--config first, then every flag given on the command line overrides it."""
    if args.config:
        cfg = TrainConfig.load(args.config)
        if args.dataset:
            cfg.data.dataset = args.dataset
    elif args.dataset and args.family:
        cfg = TrainConfig(None, DataConfig(args.dataset), make_recipe(args.recipe or "fast", args.dataset, device=_device_type(args)))
    else:
        raise UserError("give --config FILE, or --dataset D and --family F (with --rank K for light or decef)")
    data = cfg.data
    if args.data_dir is not None:
        data.data_dir = args.data_dir
    if args.train_subset is not None:
        data.train_subset = args.train_subset
    if args.val_fraction is not None:
        data.val_fraction = args.val_fraction
    cfg.data = DataConfig(**vars(data))  # re-validate after overrides
    if args.recipe and (not args.config or args.recipe != cfg.recipe.name):
        cfg.recipe = make_recipe(args.recipe, data.dataset, device=_device_type(args))
    if args.epochs is not None:
        cfg.recipe = replace(cfg.recipe, epochs=args.epochs)
    if args.seed is not None:
        cfg.seed = args.seed
    return cfg


def _device_type(args: argparse.Namespace) -> str:
    return resolve_device(args.device).type


def _model_spec(cfg: TrainConfig, args: argparse.Namespace, shape: tuple[int, int, int]):
    if args.family is None:
        if cfg.model is None:
            raise UserError("no model: give --family F or a --config with a model")
        return cfg.model
    if args.family in ("light", "decef") and args.rank is None:
        raise UserError(f"--family {args.family} needs --rank K (an integer >= 1)")
    if args.family in ("conv", "separable") and args.rank is not None:
        raise UserError(f"--family {args.family} takes no --rank")
    try:
        if cfg.data.dataset in REFERENCE_NAMES:
            return reference_spec(cfg.data.dataset, args.family, args.rank)
        return reference_spec_for_shape(*shape, args.family, args.rank)
    except ValueError as e:
        raise UserError(str(e)) from None


def check_spec_fits(spec, splits) -> None:
    if (spec.in_channels, spec.image_size, spec.num_classes) != (splits.in_channels, splits.image_size, splits.num_classes):
        raise UserError(
            f"the model expects {spec.in_channels}x{spec.image_size}x{spec.image_size} images and "
            f"{spec.num_classes} classes, but the data has {splits.in_channels}x{splits.image_size}x"
            f"{splits.image_size} images and {splits.num_classes} classes"
        )


def run_train(args: argparse.Namespace) -> int:
    cfg = resolve_config(args)
    _, splits = load_splits(cfg.data)
    cfg.model = _model_spec(cfg, args, (splits.in_channels, splits.image_size, splits.num_classes))
    check_spec_fits(cfg.model, splits)
    counts = count_model(build_model(cfg.model))
    progress = Progress()
    progress.line(
        f"training {cfg.data.dataset}: {counts.trainable_params:,} parameters, {counts.flops:,} FLOPs, "
        f"{len(splits.train_y):,} train / {len(splits.val_y):,} val / {len(splits.test_y):,} test images, "
        f"recipe {cfg.recipe.name}, {cfg.recipe.epochs} epochs"
    )

    def on_epoch(epoch: int, val_acc: float) -> None:
        text = f"epoch {epoch}/{cfg.recipe.epochs}  val_accuracy {val_acc:.4f}"
        progress.update(f"{bar(epoch, cfg.recipe.epochs)}  {text}")
        if not progress.live:
            progress.line(text)

    result = train(cfg.model, splits, cfg.recipe, seed=cfg.seed, device=args.device, on_epoch=on_epoch)
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
    }
    progress.line(
        f"done in {result.seconds:.1f}s ({result.images_per_second:,.0f} images/s): "
        f"val_accuracy {result.val_accuracy:.4f}, test_accuracy {result.test_accuracy:.4f}"
    )
    if args.save:
        state = {k: v.cpu() for k, v in result.model.state_dict().items()}
        torch.save({"config": cfg.to_dict(), "state_dict": state, "result": summary}, args.save)
        progress.line(f"saved weights and configuration to {args.save}")
    if args.json:
        print(json.dumps(summary))
    return 0
