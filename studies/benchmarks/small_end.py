"""Is the SeparableConv2d baseline beatable from inside the space? Networks no larger, trained as candidates are.

Issue 24's spaces benchmark finds the SeparableConv2d baseline above the front in every
Fashion-MNIST search: no complete candidate has as few parameters and as much validation
accuracy. This asks whether the space holds one at all. It lists every network of the search's
space with no more trainable parameters than the baseline and trains every one that differs from
the all-separable network in at most ``--slots`` slots (its neighbourhood: the networks most like
it, where one would look for a better one), each exactly as the search trained the baseline (the configuration
``ranksearch export RUN --baseline separable`` writes: the same parent, fine-tune recipe, data and
seed; only the layers differ), with ``ranksearch train --config ... --json``. The baseline itself is
trained again first, to show the retraining reproduces its recorded accuracy. Prints one line per
network and the best against the baseline.

``--sample N`` trains N networks drawn at random from all of them instead (the same N for every run
folder, so a network that wins on one seed can be checked on the others), each with the share of the
parent's spectral energy it keeps (the mean over slots, the search's zero-cost signal) and the
Spearman correlation of that share with validation accuracy: would an energy-led start find the
winners?

Run: python studies/benchmarks/small_end.py runs/spaces/fashion-mnist-tpe-0 [--slots 2 | --sample 60] [--jobs 2]
(a run folder of ``spaces.py --out``, or any ``ranksearch run`` folder of a paper's reference network with a
separable baseline).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import random
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from lightlayers import LayerChoice, ModelSpec, energy_kept, get_family
from lightlayers.network import load_state
from ranksearch.api import load
from ranksearch.space import rank_range, slot_families


def networks_no_larger(template: ModelSpec, space: str, budget: int) -> list[tuple[int, dict[str, LayerChoice]]]:
    """(parameters of the slots, layers) of every choice of family and rank per slot within ``budget``."""
    per_slot = []
    for slot in template.slots():
        options = []
        for family in slot_families(slot, space):
            fam = get_family(slot.kind, family)
            lo, hi = rank_range(slot, family, template.num_classes) if fam.takes_rank else (0, 0)
            ranks = range(lo, hi + 1) if fam.takes_rank else [None]
            for rank in ranks:
                if family == "decef" and rank == 1 and "separable" in slot_families(slot, space):
                    continue  # the separable layer: the space names it once
                options.append((fam.params(slot.shape, (rank,) if rank else ()), slot.name, LayerChoice(family, rank)))
        per_slot.append(options)
    out = []
    for combo in itertools.product(*per_slot):
        params = sum(c[0] for c in combo)
        if params <= budget:
            out.append((params, {name: choice for _, name, choice in combo}))
    return out


def train(config: dict, folder: Path, name: str) -> float:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(config))
    done = subprocess.run([sys.executable, "-m", "ranksearch", "train", "--config", str(path), "--json"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"small_end.py: training {name} failed: {done.stderr.strip().splitlines()[-1:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["val_accuracy"])


def label(layers: dict[str, LayerChoice]) -> str:
    return " ".join(f"{c.family}{c.rank or ''}" for c in layers.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("run_dir")
    parser.add_argument("--slots", type=int, default=2, help="train the networks that differ from it in at most this many slots")
    parser.add_argument("--sample", type=int, default=0, help="train this many networks drawn at random from all no larger instead")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    run = load(args.run_dir)
    base_config = run.export(baseline="separable")
    template = ModelSpec.from_dict(base_config["model"])
    slots_budget = sum(get_family(s.kind, template.layers[s.name].family).params(s.shape, ()) for s in template.slots())
    every = networks_no_larger(template, run.config.family, slots_budget)
    def changed(layers: dict[str, LayerChoice]) -> int:
        return sum(layers[s.name] != template.layers[s.name] for s in template.slots())
    if args.sample:
        drawn = random.Random(0).sample([n for n in every if changed(n[1]) > 0], args.sample)
        chosen = f"{len(drawn)} drawn at random from them"
    else:
        drawn = [n for n in every if 0 < changed(n[1]) <= args.slots]
        chosen = f"{len(drawn)} differ from it in 1 to {args.slots} slots"
    print(f"{len(every):,} networks of the space no larger than the separable baseline "
          f"({slots_budget:,} parameters in its factorisable layers); {chosen}")
    parent = load_state(base_config["parent"])

    def energy(layers: dict[str, LayerChoice]) -> float:
        kept = energy_kept(ModelSpec.from_dict({**base_config["model"], "layers": {n: c.to_dict() for n, c in layers.items()}}), parent)
        return sum(kept.values()) / len(kept)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        baseline_val = train(base_config, folder, "separable")
        recorded = float(run.baselines.set_index("family").loc["separable", "val_accuracy"])
        print(f"separable baseline: recorded val {recorded:.4f}, trained again {baseline_val:.4f}", flush=True)

        def one(i: int) -> tuple[int, str, float, float]:
            params, layers = drawn[i]
            config = copy.deepcopy(base_config)
            config["model"]["layers"] = {name: c.to_dict() for name, c in layers.items()}
            return params, label(layers), energy(layers), train(config, folder, f"n{i}")

        results = []
        with ThreadPoolExecutor(args.jobs) as pool:
            for params, name, kept, val in pool.map(one, range(len(drawn))):
                results.append((val, params, name, kept))
                print(f"  {params:>6,} slot params  energy {kept:.3f}  val {val:.4f}  {val - baseline_val:+.4f}  {name}", flush=True)
    best = max(results)
    beats = sum(r[0] >= baseline_val for r in results)
    table = pd.DataFrame(results, columns=["val", "params", "layers", "energy"])
    print(f"best: val {best[0]:.4f} ({best[0] - baseline_val:+.4f} against the separable baseline retrained), "
          f"{best[1]:,} slot params, {best[2]}; {beats} of {len(results)} at least as accurate; "
          f"Spearman(energy kept, val) {table['energy'].rank().corr(table['val'].rank()):.2f}; "
          f"the separable network keeps {energy(template.layers):.3f}")


if __name__ == "__main__":
    main()
