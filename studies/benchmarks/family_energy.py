"""At a DeCEF layer's parameter cost, how much of a trained kernel's energy would other factorisations keep?

For every square convolution larger than 1x1 in a trained state_dict, and DeCEF ranks 1-3, prints
the share of the kernel's squared Frobenius norm each factorisation keeps at (at most) DeCEF's
parameter count: DeCEF (per input channel, the rank-r SVD of the out x k*k slice), a channel
low-rank convolution (k x k conv to r channels, then 1x1: the rank-r SVD of the out x in*k*k
matrix) and a spatial SVD (k x 1 then 1 x k: the rank-r SVD of the (in*k) x (out*k) matrix).
Keeping more energy is what a weights-only start can give a fine-tune (Spearman 0.93 with final
accuracy, studies/benchmarks/RESULTS.md, "Rung signals").

    python studies/benchmarks/family_energy.py runs/resnet20-cifar10/resnet20.pt
"""

from __future__ import annotations

import argparse

import torch

from lightlayers.network import load_state


def energies(w: torch.Tensor, rank: int) -> tuple[int, float, float, float]:
    """(DeCEF's parameters at ``rank``, energy kept by DeCEF, channel low-rank, spatial SVD at that cost)."""
    w = w.double()
    f, c, s, _ = w.shape
    total = w.square().sum()
    params = c * rank * (s * s + f)
    decef = torch.linalg.svdvals(w.permute(1, 0, 2, 3).reshape(c, f, s * s)).square()[:, :rank].sum()
    r_channel = params // (c * s * s + f)
    channel = torch.linalg.svdvals(w.reshape(f, c * s * s)).square()[:r_channel].sum()
    r_spatial = params // (c * s + s * f)
    spatial = torch.linalg.svdvals(w.permute(1, 2, 0, 3).reshape(c * s, f * s)).square()[:r_spatial].sum()
    return params, float(decef / total), float(channel / total), float(spatial / total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", help="a trained state_dict (or a ranksearch train --save checkpoint)")
    args = parser.parse_args()
    state = load_state(args.weights)
    print(f"{'layer':<18} {'shape':>14} {'rank':>4} {'params':>7} {'share':>6} {'DeCEF':>6} {'channel':>7} {'spatial':>7}")
    for name, w in state.items():
        if not name.endswith(".weight") or w.dim() != 4 or w.shape[-1] != w.shape[-2] or w.shape[-1] == 1:
            continue
        for rank in (1, 2, 3):
            params, decef, channel, spatial = energies(w, rank)
            shape = "x".join(map(str, w.shape))
            print(f"{name[:-7]:<18} {shape:>14} {rank:>4} {params:>7} {params / w.numel():>6.2f} "
                  f"{decef:>6.2f} {channel:>7.2f} {spatial:>7.2f}")


if __name__ == "__main__":
    main()
