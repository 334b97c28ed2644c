"""DeCEF's effective rank: how many eigen-filters per input channel a trained Conv2d really uses."""

from __future__ import annotations

import torch
from torch import nn


def effective_rank(weight: torch.Tensor, energy: float = 0.9) -> int:
    """The smallest r such that r eigen-filters per input channel keep ``energy`` of the spectral energy.

    ``weight`` is a Conv2d weight (f, c, s, s). For each input channel i, the f x (s*s) matrix
    ``weight[:, i]`` is decomposed by SVD; keeping its r largest singular values keeps
    ``sum(sigma[:r]**2)`` of its energy. The layer's effective rank is the smallest r whose kept
    energy, summed over all input channels, is at least ``energy`` of the total: the rank a
    ``DeCEFConv2d`` (one r for every channel) needs to approximate this layer that well.
    """
    if weight.dim() != 4:
        raise ValueError(f"expected a Conv2d weight of shape (f, c, s, s), got shape {tuple(weight.shape)}")
    return rank_at(energy_curve(weight, per_channel=True), energy)


def effective_ranks(model: nn.Module, energy: float = 0.9) -> dict[str, int]:
    """Effective rank of every dense (groups=1) Conv2d with a kernel larger than 1x1, by module name."""
    return {
        name: effective_rank(m.weight, energy)
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d) and m.groups == 1 and m.kernel_size[0] * m.kernel_size[1] > 1
    }


def energy_rank(matrix: torch.Tensor, energy: float = 0.9) -> int:
    """The smallest r whose r largest singular values keep ``energy`` of a matrix's squared spectrum.

    For a Linear weight this is the LightLinear rank that approximates it that well; for a
    Conv2d weight unfolded to (f, c*s*s), a rank for a factorisation of the whole kernel.
    """
    return rank_at(energy_curve(matrix, per_channel=False), energy)


def energy_curve(weight: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """Cumulative share of the squared spectrum kept by the first 1, 2, ... components (empty for a zero weight).

    ``per_channel``: a Conv2d weight's eigen-filters per input channel, summed over channels (DeCEF);
    otherwise the singular values of the weight unfolded to (out, -1).
    """
    w = weight.detach().double()
    if per_channel:
        f, c, kh, kw = w.shape
        sigma2 = (torch.linalg.svdvals(w.permute(1, 0, 2, 3).reshape(c, f, kh * kw)) ** 2).sum(dim=0)
    else:
        sigma2 = torch.linalg.svdvals(w.reshape(w.shape[0], -1)) ** 2
    kept = sigma2.cumsum(0)
    return kept / kept[-1] if kept[-1] > 0 else kept[:0]


def rank_at(curve: torch.Tensor, energy: float) -> int:
    """The smallest rank whose kept share on ``curve`` (``energy_curve``) is at least ``energy``; 0 for a zero weight."""
    if not 0 < energy <= 1:
        raise ValueError(f"energy must be in (0, 1], got {energy!r}")
    if len(curve) == 0:
        return 0
    return min(int(torch.searchsorted(curve, torch.tensor(energy, dtype=curve.dtype) - 1e-12).item()) + 1, len(curve))


def _share(sigma2: torch.Tensor, kept: int) -> float:
    total = float(sigma2.sum())
    return float(sigma2[..., :kept].sum()) / total if total > 0 else 1.0


def per_channel_energy(weight: torch.Tensor, rank: int) -> float:
    """The share of a Conv2d weight's spectral energy that ``rank`` eigen-filters per input channel keep
    (DeCEFConv2d at ``rank``; SeparableConv2d at 1)."""
    f, c, kh, kw = weight.shape
    sigma2 = torch.linalg.svdvals(weight.detach().double().permute(1, 0, 2, 3).reshape(c, f, kh * kw)) ** 2
    return _share(sigma2, rank)


def matrix_energy(weight: torch.Tensor, components: int) -> float:
    """The share of a weight's spectral energy (unfolded to (out, -1)) that ``components`` singular values keep."""
    sigma2 = torch.linalg.svdvals(weight.detach().double().reshape(weight.shape[0], -1)) ** 2
    return _share(sigma2, components)
