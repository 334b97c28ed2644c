"""Validation accuracy within the first epoch, for replaying a pruner whose first rung is shorter than an epoch.

A run trained without pruning (``--pruner none``) stores each candidate's accuracy after every
epoch, not within one. This script trains every candidate and baseline of such a run again for
its first epoch only (same network, recipe, data, seed and schedule: the one-cycle schedule is
laid over all the recipe's epochs, so the first epoch is the same as in the run), validating at
1/3 and 2/3 of the epoch as well, and writes ``early_checks.csv`` into the run folder:
``number`` (empty for a baseline), ``role``, ``family``, ``trainable_params``, ``val_1/3``,
``val_2/3``, ``val_1`` (this rerun's epoch 1) and ``run_val_1`` (the run's own epoch 1; the two
differ where the run was made on another CPU, whose bf16 rounds differently).
``pruning_replay.py`` reads the file where it is present. Two processes of one thread each.

    python studies/benchmarks/early_checks.py studies/cifar10-nopruning studies/fashion-mnist-light-nopruning
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import sys
from pathlib import Path

import pandas as pd
import torch

from lightlayers import LayerChoice, ModelSpec, build_model, count_model, reference_spec
from ranksearch.config import SearchConfig, read_json
from ranksearch.data import load_splits
from ranksearch.errors import UserError
from ranksearch.trainer import train

REPO = Path(__file__).resolve().parents[2]
DATASETS = Path(os.environ.get("RANKSEARCH_DATASETS") or REPO.parent / "shared" / "datasets")
CHECKS = (1 / 3, 2 / 3)
COLUMNS = ["number", "role", "family", "trainable_params", "val_1/3", "val_2/3", "val_1", "run_val_1"]


class FirstEpochDone(Exception):
    pass


def networks(folder: Path, cfg: SearchConfig) -> list[dict]:
    """Every baseline and trained candidate of the run, its network rebuilt from ``trials.csv``."""
    template = reference_spec(cfg.data.dataset, "conv")
    nets = []
    for r in pd.read_csv(folder / "trials.csv").to_dict("records"):
        if r["role"] == "baseline":
            spec = reference_spec(cfg.data.dataset, r["family"])
        else:
            spec = template.with_layers({
                slot.name: LayerChoice(r[f"family.{slot.name}"],
                                       None if pd.isna(r[f"rank.{slot.name}"]) else int(r[f"rank.{slot.name}"]))
                for slot in template.slots()
            })
        if count_model(build_model(spec)).trainable_params != r["trainable_params"]:
            sys.exit(f"{folder}: trial {r['number']} rebuilt with another parameter count; trials.csv and this code disagree")
        nets.append({"number": "" if r["role"] == "baseline" else int(r["number"]), "role": r["role"],
                     "family": r["family"], "trainable_params": int(r["trainable_params"]), "spec": spec.to_dict(),
                     "run_val_1": json.loads(r["val_curve"])[0]})
    return nets


_splits = None


def _init(cfg_dict: dict) -> None:
    global _splits
    torch.set_num_threads(1)
    cfg = SearchConfig.from_dict(cfg_dict)
    _splits = load_splits(cfg.data)[1]


def first_epoch(job: tuple[dict, dict]) -> dict:
    cfg_dict, net = job
    cfg = SearchConfig.from_dict(cfg_dict)
    checked: dict[float, float] = {}

    def stop(epoch: int, acc: float) -> None:
        checked[1.0] = acc
        raise FirstEpochDone

    try:
        train(ModelSpec.from_dict(net["spec"]), _splits, cfg.recipe, seed=cfg.seed, device="cpu",
              checks=CHECKS, on_check=checked.__setitem__, on_epoch=stop, evaluate_test=False)
    except FirstEpochDone:
        pass
    row = {k: net[k] for k in ("number", "role", "family", "trainable_params", "run_val_1")}
    row.update({"val_1/3": checked[CHECKS[0]], "val_2/3": checked[CHECKS[1]], "val_1": checked[1.0]})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders trained with --pruner none (config.json, trials.csv)")
    args = parser.parse_args()
    for folder in args.runs:
        if not (folder / "trials.csv").is_file() or not (folder / "config.json").is_file():
            sys.exit(f"{folder}: no trials.csv and config.json; give a run folder written by ranksearch run --pruner none")
        try:
            raw = read_json(folder / "config.json")
            raw["data"]["data_dir"] = str(DATASETS)
            cfg = SearchConfig.from_dict(raw)
        except (KeyError, TypeError, ValueError, UserError) as error:
            sys.exit(f"{folder / 'config.json'} is not a ranksearch run configuration ({error})")
        try:
            load_splits(cfg.data)
        except UserError as error:
            sys.exit(f"{error} (datasets: $RANKSEARCH_DATASETS, else {DATASETS})")
        try:
            nets = networks(folder, cfg)
        except (KeyError, ValueError) as error:  # a user's network, or a trials.csv of another layout
            sys.exit(f"{folder}: cannot rebuild its networks from trials.csv ({error}); this script takes runs "
                     "of the paper's reference networks (--dataset mnist, fashion-mnist, cifar10 or cifar100)")
        if not nets:
            sys.exit(f"{folder}: trials.csv holds no trained network")
        print(f"{folder}: {len(nets)} networks, first epoch with checks at 1/3 and 2/3, 2 processes x 1 thread", flush=True)
        with multiprocessing.get_context("spawn").Pool(2, initializer=_init, initargs=(raw,)) as pool:
            rows = []
            for row in pool.imap(first_epoch, [(raw, n) for n in nets]):
                rows.append(row)
                print(f"  {row['role']:<9} {str(row['number']):>3} {row['trainable_params']:>7,}  "
                      f"1/3 {row['val_1/3']:.4f}  2/3 {row['val_2/3']:.4f}  1 {row['val_1']:.4f} (run {row['run_val_1']:.4f})",
                      flush=True)
        with open(folder / "early_checks.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {folder / 'early_checks.csv'}")


if __name__ == "__main__":
    main()
