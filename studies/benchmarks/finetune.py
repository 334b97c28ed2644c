"""How much of a trained parent's accuracy does fine-tuning recover, in how many epochs, at what rate?

The parent is the paper's Conv2d network trained with the fast recipe. Each candidate (a few
networks of the kinds a search proposes) starts from the parent's weights, factorised layer by
layer (``lightlayers.inherit``), and is fine-tuned with the ``finetune`` recipe (the parent's
recipe, one-cycle schedule) at each peak learning rate for each number of epochs. Also
printed: each candidate's validation accuracy right after the decomposition (BatchNorm statistics
re-estimated, no step taken) and the same network trained from scratch for the parent's epochs
plus the fine-tune's, the fairness rule's baseline.

    python studies/benchmarks/finetune.py --dataset fashion-mnist --train-subset 10000 --parent-epochs 5 \
        --epochs 1 3 --lrs 5e-4 2e-3 5e-3 1e-2 --scratch
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from lightlayers import LayerChoice, build_model, count_model, reference_spec
from ranksearch.config import DataConfig, make_recipe
from ranksearch.data import load_splits
from ranksearch.space import rank_range
from ranksearch.starts import warm_layers
from ranksearch.trainer import train


def candidates(dataset: str, parent: torch.nn.Module) -> dict[str, object]:
    conv = reference_spec(dataset, "conv")
    warm = conv.with_layers(warm_layers(conv, "all", parent, 0.9))
    decef2 = conv.with_layers({s.name: LayerChoice("light", 8) if s.kind == "dense"
                               else LayerChoice("decef", min(2, rank_range(s, "decef", conv.num_classes)[1])) for s in conv.slots()})
    return {
        "separable": reference_spec(dataset, "separable"),
        "light k=3 (paper)": reference_spec(dataset, "light", 3),
        "decef r=2, head light 8": decef2,
        "warm start (energy 0.9)": warm,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--data-dir", default="../shared/datasets")
    parser.add_argument("--train-subset", type=int)
    parser.add_argument("--parent-epochs", type=int, default=10)
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--lrs", type=float, nargs="+", default=[5e-4, 2e-3, 5e-3])
    parser.add_argument("--scratch", action="store_true", help="also train each candidate from scratch for parent + fine-tune epochs")
    parser.add_argument("--out", default="/tmp/ranksearch-finetune")
    args = parser.parse_args()

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _, splits = load_splits(DataConfig(args.dataset, args.data_dir, train_subset=args.train_subset))
    fast = make_recipe("fast", args.dataset, args.parent_epochs)
    cached = out / f"parent-{args.dataset}-{args.train_subset}-{args.parent_epochs}.pt"
    conv = reference_spec(args.dataset, "conv")
    if cached.exists():
        state = torch.load(cached, weights_only=True)
        parent = build_model(conv)
        parent.load_state_dict(state)
        print(f"parent: {cached}")
    else:
        result = train(conv, splits, fast, seed=0, device="cpu")
        parent, state = result.model.cpu(), {k: v.cpu() for k, v in result.model.state_dict().items()}
        torch.save(state, cached)
        print(f"parent: val {result.val_accuracy:.4f} test {result.test_accuracy:.4f}, {result.seconds:.0f} s "
              f"({result.seconds / args.parent_epochs:.1f} s per epoch)", flush=True)
    rows = []
    for name, spec in candidates(args.dataset, parent).items():
        params = count_model(build_model(spec)).trainable_params
        for epochs in args.epochs:
            for lr in args.lrs:
                recipe = replace(make_recipe("finetune", args.dataset, epochs), lr=lr)
                t0 = time.perf_counter()
                result = train(spec, splits, recipe, seed=0, device="cpu", parent=state, checks=(0.0,))
                row = {"candidate": name, "params": params, "epochs": epochs, "lr": lr,
                       "val_at_0": result.val_checks.get(0.0), "val": result.val_accuracy, "test": result.test_accuracy,
                       "seconds": round(time.perf_counter() - t0, 1)}
                rows.append(row)
                print(json.dumps(row), flush=True)
        if args.scratch:
            recipe = make_recipe("fast", args.dataset, args.parent_epochs + max(args.epochs))
            result = train(spec, splits, recipe, seed=0, device="cpu")
            row = {"candidate": name, "params": params, "epochs": recipe.epochs, "lr": recipe.lr, "start": "scratch",
                   "val": result.val_accuracy, "test": result.test_accuracy, "seconds": round(result.seconds, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    (out / f"finetune-{args.dataset}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
