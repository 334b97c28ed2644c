"""Warm starts at a parameter budget: one energy level for every layer, or each layer's rank allocated?

The parent is a run folder's trained Conv2d network (``parent.pt``; the headline's by default). At
each budget (the SeparableConv2d network's parameters, and shares of the Conv2d network's), two
starts are read off it: ``level``, the highest energy level whose layers fit (bisection on
``Spectra.layers_at``: the warm start before this measurement), and ``allocated``, each layer's
family and rank chosen to keep the most energy summed over layers within the budget
(``Spectra.layers_allocated``, the warm start since). Each
inherits the parent's weights and fine-tunes with the run's ``finetune`` recipe, same seed; the
SeparableConv2d baseline is fine-tuned beside them. One line of JSON per network: parameters, the
mean energy kept (the zero-cost rung's signal), validation (chooses) and test (reported).

    python studies/benchmarks/allocation.py --run studies/cifar10-all
    python studies/benchmarks/allocation.py --run studies/cifar10-all --networks 0 2 4   # a share, for a second process
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from lightlayers import LayerChoice, build_model, count_model, energy_kept
from ranksearch.baselines import baseline_spec
from ranksearch.config import SearchConfig
from ranksearch.data import load_splits
from ranksearch.starts import Spectra
from ranksearch.trainer import train

SHARES = (0.25, 0.35, 0.5)


def level_within(spectra: Spectra, budget: int, steps: int = 12) -> dict[str, LayerChoice] | None:
    """The highest energy level whose layers hold at most ``budget`` parameters (bisection), or None."""
    lo, hi, best = 0.0, 1.0, None
    for _ in range(steps):
        energy = (lo + hi) / 2
        layers = spectra.layers_at(energy)
        if spectra.params(layers) <= budget:
            lo, best = energy, layers
        else:
            hi = energy
    return best


def networks(cfg: SearchConfig, splits, state: dict[str, torch.Tensor]) -> list[tuple[str, object]]:
    conv = baseline_spec(cfg, splits, "conv")
    separable = baseline_spec(cfg, splits, "separable")
    parent = build_model(conv)
    parent.load_state_dict(state)
    spectra = Spectra(conv, cfg.family, parent)
    separable_layers = spectra.params({s.name: LayerChoice("linear" if s.kind == "dense" else "separable")
                                       for s in spectra.slots})
    out = [("separable (baseline)", separable)]
    for label, budget in [("the separable's size", separable_layers)] + [(f"share {s}", spectra.budget(s)) for s in SHARES]:
        level = level_within(spectra, budget)
        if level is not None:
            out.append((f"level, {label}", conv.with_layers(level)))
        allocated = spectra.layers_allocated(budget)
        if allocated is not None:
            out.append((f"allocated, {label}", conv.with_layers(allocated)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="studies/cifar10-all", help="a run folder with config.json and parent.pt")
    parser.add_argument("--data-dir", default="../shared/datasets")
    parser.add_argument("--networks", type=int, nargs="*", help="indices of the networks to fine-tune (default all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(1)
    run = Path(args.run)
    cfg = SearchConfig.from_dict(json.loads((run / "config.json").read_text()))
    cfg = replace(cfg, data=replace(cfg.data, data_dir=args.data_dir))
    _, splits = load_splits(cfg.data)
    state = torch.load(run / "parent.pt", weights_only=True)
    chosen = networks(cfg, splits, state)
    for i in args.networks if args.networks else range(len(chosen)):
        name, spec = chosen[i]
        kept = energy_kept(spec, state)
        result = train(spec, splits, cfg.finetune, seed=args.seed, device="cpu", parent=state)
        print(json.dumps({"network": name, "params": count_model(build_model(spec)).trainable_params,
                          "energy_kept": round(sum(kept.values()) / len(kept), 4),
                          "layers": " ".join(f"{c.family}{c.rank or ''}" for c in spec.layers.values()),
                          "val": result.val_accuracy, "test": result.test_accuracy}), flush=True)


if __name__ == "__main__":
    main()
