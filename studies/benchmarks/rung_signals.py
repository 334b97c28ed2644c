"""Which early signal ranks candidates as their final accuracy does? Spearman correlations from runs without pruning.

A run with ``--pruner none:checks=0+0.1111+0.3333`` records each candidate's validation accuracy
right after its decomposition (0: the parent's weights factorised, BatchNorm re-estimated, no
step taken), a ninth and a third into its fine-tune, and after every epoch. This script ranks
the candidates by each signal and by their final validation accuracy and prints Spearman's rho
for each, on the complete candidates (every candidate completes without pruning):

- ``energy mean`` / ``energy min``: zero-cost, read off the parent's weights alone: the share of
  each replaced layer's spectral energy its decomposition keeps (DeCEF and separable: per input
  channel, the r largest singular values of the f x s*s slices; LightConv2d: the ceil(k/2)
  largest of the unfolded kernel, its +/- pairs holding k//2; LightLinear: the k largest), the
  mean and the minimum over the layers (dense layers keep all of it);
- ``val at 0``, ``val at 1/9``, ``val at 1/3``, ``val at epoch 1``: validation accuracy there.

Runs from scratch (``--start scratch``, or folders written before the parent existed) have no
parent and no check at 0; their checks within the first epoch come from ``early_checks.csv``
where ``early_checks.py`` wrote one.

    python studies/benchmarks/rung_signals.py runs/cifar10-nopruning-parent-all studies/cifar10-nopruning ...
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd
import torch

from lightlayers import spec_from_dict
from lightlayers.network import load_state
from ranksearch.config import SearchConfig, read_json


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = pd.Series(a).rank(), pd.Series(b).rank()
    return float(ra.corr(rb))


def energy_kept(weight: torch.Tensor, family: str, rank: int | None) -> float:
    """The share of a dense layer's spectral energy that its ``family`` at ``rank`` keeps."""
    w = weight.double()
    if family in ("conv", "linear"):
        return 1.0
    if w.dim() == 2:  # LightLinear
        s = torch.linalg.svdvals(w) ** 2
        return float(s[:rank].sum() / s.sum())
    f, c, k, _ = w.shape
    if family in ("decef", "separable"):
        r = 1 if family == "separable" else rank
        s = torch.linalg.svdvals(w.permute(1, 0, 2, 3).reshape(c, f, k * k)) ** 2  # (c, min(f, k*k))
        return float(s[:, :r].sum() / s.sum())
    s = torch.linalg.svdvals(w.reshape(f, c * k * k)) ** 2  # LightConv2d
    return float(s[: (rank + 1) // 2].sum() / s.sum())


def signals(folder: Path) -> pd.DataFrame:
    cfg = SearchConfig.from_dict(read_json(folder / "config.json"))
    trials = pd.read_csv(folder / "trials.csv")
    cands = trials[(trials.role == "candidate") & (trials.state == "COMPLETE")].copy()
    parent = load_state(folder / "parent.pt") if (folder / "parent.pt").exists() else None
    early = folder / "early_checks.csv"
    extra = pd.read_csv(early, dtype={"number": str}) if early.exists() else None
    rows = []
    for r in cands.to_dict("records"):
        checks = json.loads(r["val_checks"]) if isinstance(r.get("val_checks"), str) else {}
        curve = json.loads(r["val_curve"])
        row = {"number": int(r["number"]), "params": int(r["trainable_params"]), "final": r["val_accuracy"],
               "val at 0": checks.get("0.0000"), "val at 1/9": checks.get("0.1111"), "val at 1/3": checks.get("0.3333"),
               "val at epoch 1": curve[0] if len(curve) > 1 else None}
        if extra is not None:
            match = extra[extra.number == str(int(r["number"]))]
            if len(match):
                row["val at 1/3"] = float(match["val_1/3"].iloc[0])
                row["val at 2/3"] = float(match["val_2/3"].iloc[0])
        if parent is not None:
            spec = spec_from_dict(json.loads(json.dumps(_spec_of(r, cfg))))
            kept = [energy_kept(parent[f"{s.name}.weight"], spec.layers[s.name].family, spec.layers[s.name].rank)
                    for s in spec.slots()]
            row["energy mean"], row["energy min"] = sum(kept) / len(kept), min(kept)
        rows.append(row)
    return pd.DataFrame(rows)


def _spec_of(r: dict, cfg: SearchConfig) -> dict:
    from lightlayers import reference_spec

    template = reference_spec(cfg.data.dataset, "conv").to_dict()
    for slot in template["layers"]:
        rank = r.get(f"rank.{slot}")
        template["layers"][slot] = {"family": r[f"family.{slot}"]}
        if rank is not None and not (isinstance(rank, float) and math.isnan(rank)):
            template["layers"][slot]["rank"] = int(rank)
    return template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+")
    args = parser.parse_args()
    order = ["energy mean", "energy min", "val at 0", "val at 1/9", "val at 1/3", "val at 2/3", "val at epoch 1"]
    print(f"{'run':<40} {'start':<8} {'n':>3}  " + "  ".join(f"{o:>14}" for o in order))
    for d in args.run_dirs:
        folder = Path(d)
        cfg = SearchConfig.from_dict(read_json(folder / "config.json"))
        table = signals(folder)
        cells = []
        for o in order:
            if o in table and table[o].notna().sum() >= 5:
                ok = table[o].notna()
                cells.append(f"{spearman(table[o][ok].tolist(), table['final'][ok].tolist()):>14.2f}")
            else:
                cells.append(f"{'-':>14}")
        print(f"{folder.name:<40} {cfg.start:<8} {len(table):>3}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
