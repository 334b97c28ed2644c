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
    if not 0 < energy <= 1:
        raise ValueError(f"energy must be in (0, 1], got {energy!r}")
    if weight.dim() != 4:
        raise ValueError(f"expected a Conv2d weight of shape (f, c, s, s), got shape {tuple(weight.shape)}")
    f, c, kh, kw = weight.shape
    per_channel = weight.detach().double().permute(1, 0, 2, 3).reshape(c, f, kh * kw)
    sigma2 = torch.linalg.svdvals(per_channel) ** 2  # (c, min(f, s*s)), descending
    kept = sigma2.sum(dim=0).cumsum(0)
    total = kept[-1]
    if total == 0:
        return 0
    return int(torch.searchsorted(kept / total, torch.tensor(energy, dtype=kept.dtype) - 1e-12).item()) + 1


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
    if not 0 < energy <= 1:
        raise ValueError(f"energy must be in (0, 1], got {energy!r}")
    sigma2 = torch.linalg.svdvals(matrix.detach().double().reshape(matrix.shape[0], -1)) ** 2
    kept = sigma2.cumsum(0)
    if kept[-1] == 0:
        return 0
    return int(torch.searchsorted(kept / kept[-1], torch.tensor(energy, dtype=kept.dtype) - 1e-12).item()) + 1


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
