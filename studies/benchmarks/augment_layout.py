"""The augmented batch's memory layout: NCHW (before 2026-11-30) against channels_last (now).

``random_crop_flip`` gathers pixels, and gathers return NCHW tensors. Until 2026-11-30 the
trainer fed that NCHW batch to networks built channels_last. A first layer with a stored
kernel (Conv2d, LightConv2d, SeparableConv2d) converts the batch back to channels_last; DeCEF's
dense path builds its kernel at each call, NCHW, so the whole network then ran NCHW. This
script trains networks from the headline search (`studies/cifar10-all/study.db`) for one epoch
on 10,000 CIFAR-10 training images with ``ranksearch.trainer.train``, one thread as in a search job, with
the augmented batch in each layout, interleaved, twice, and prints the trainer's images/s.
CIFAR-10 is read from $RANKSEARCH_DATASETS, else the shared datasets folder next to the repository.

    python studies/benchmarks/augment_layout.py
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

import optuna
import torch

import ranksearch.trainer as trainer
from lightlayers import ModelSpec, reference_spec
from ranksearch.config import DataConfig, make_recipe
from ranksearch.data import load_dataset, make_splits
from ranksearch.errors import UserError

REPO = Path(__file__).resolve().parents[2]
STUDY_DB = REPO / "studies" / "cifar10-all" / "study.db"
DATASETS = Path(os.environ.get("RANKSEARCH_DATASETS") or REPO.parent / "shared" / "datasets")
TRIALS = {5: "trial 5 (DeCEF first layer)", 6: "trial 6 (Conv2d first layer, DeCEF after)", 0: "trial 0 (paper Light k=1)"}
channels_last_crop_flip = trainer.random_crop_flip


def nchw_crop_flip(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    return channels_last_crop_flip(x, pad, gen).contiguous()  # what the gathers returned before


def main() -> None:
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if not STUDY_DB.is_file():
        sys.exit(f"no {STUDY_DB}: this benchmark reads the headline study's networks from it")
    study = optuna.load_study(study_name="cifar10-all", storage=f"sqlite:///{STUDY_DB}")
    nets = {label: ModelSpec.from_dict(study.trials[n].user_attrs["spec"]) for n, label in TRIALS.items()}
    nets["Conv2d baseline"] = reference_spec("cifar10", "conv")
    try:
        data = load_dataset("cifar10", DATASETS)
    except UserError as error:
        sys.exit(f"{error} (datasets: $RANKSEARCH_DATASETS, else {DATASETS})")
    splits = make_splits(data, DataConfig("cifar10", train_subset=10000))
    recipe = make_recipe("fast", "cifar10", epochs=1)
    print(f"torch {torch.__version__}, 1 thread, precision {recipe.precision}, {len(splits.train_y):,} images, 1 epoch")
    for label, spec in nets.items():
        runs: dict[str, list[float]] = {"NCHW": [], "channels_last": []}
        for _ in range(2):
            for layout, crop_flip in (("NCHW", nchw_crop_flip), ("channels_last", channels_last_crop_flip)):
                trainer.random_crop_flip = crop_flip
                runs[layout].append(trainer.train(spec, splits, recipe, seed=0, device="cpu", evaluate_test=False).images_per_second)
        before, now = statistics.median(runs["NCHW"]), statistics.median(runs["channels_last"])
        print(f"{label:<45} NCHW {before:6.0f}  channels_last {now:6.0f} images/s  {now / before:.2f}x", flush=True)
    trainer.random_crop_flip = channels_last_crop_flip


if __name__ == "__main__":
    main()
