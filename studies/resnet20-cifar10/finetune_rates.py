"""How a user's trained ResNet-20 takes a fine-tune: the quarter-share warm start, one epoch, per optimizer and rate.

From the repository root, after `run.sh` has trained the parent (runs/resnet20-cifar10/resnet20.pt):

    python studies/resnet20-cifar10/finetune_rates.py adam:0.01 adam:0.001 sgd:0.01

Prints one JSON line per setting: validation accuracy before any step (BatchNorm statistics
re-estimated), a third into the epoch and at its end, and the test accuracy. 2 threads.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from lightlayers import LayerChoice, NetworkSpec, build_model, count_model
from lightlayers.network import load_state
from ranksearch.config import DataConfig, make_recipe
from ranksearch.data import load_splits
from ranksearch.starts import Spectra
from ranksearch.trainer import train

ROOT = Path(__file__).resolve().parents[2]


def main(settings: list[str]) -> None:
    torch.set_num_threads(2)
    weights = ROOT / "runs" / "resnet20-cifar10" / "resnet20.pt"
    _, splits = load_splits(DataConfig("cifar10", str(ROOT.parent / "shared" / "datasets")))
    network = NetworkSpec(f"{ROOT / 'studies' / 'resnet20-cifar10' / 'resnet20.py'}:resnet20", 3, 32, 10, {}, weights=str(weights))
    dense_spec = network.with_layers({s.name: LayerChoice("linear" if s.kind == "dense" else "conv") for s in network.slots()})
    state = load_state(weights)
    dense = build_model(dense_spec)
    dense.load_state_dict(state)
    share = dense_spec.with_layers(Spectra(dense_spec, "all", dense).layers_within(0.25))
    print(json.dumps({"trainable_params": count_model(build_model(share)).trainable_params}), flush=True)
    for setting in settings:
        optimizer, lr = setting.split(":")
        recipe = replace(make_recipe("finetune", "cifar10", 1), optimizer=optimizer, lr=float(lr))
        t0 = time.perf_counter()
        r = train(share, splits, recipe, seed=0, device="cpu", parent=state, checks=(0.0, 0.33))
        print(json.dumps({"optimizer": optimizer, "lr": float(lr), "val_at": r.val_checks, "val": r.val_accuracy,
                          "test": r.test_accuracy, "seconds": round(time.perf_counter() - t0)}), flush=True)


if __name__ == "__main__":
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        sys.exit(0)
    main(sys.argv[1:] or ["adam:0.01", "adam:0.001", "sgd:0.01"])
