"""DeCEFConv2d: a convolution built from ``rank`` eigen-filters per input channel (DeCEF)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lightlayers._args import conv_padding, positive_int


class DeCEFConv2d(nn.Module):
    """Depthwise s x s with ``rank`` filters per input channel, then a pointwise 1x1 c*r -> f.

    Every s x s slice of a Conv2d kernel is written as a combination of ``rank`` eigen-filters
    of its input channel: ``rank=1`` is a separable convolution, ``rank=s*s`` can represent any
    Conv2d. Parameters: ``s*s*c*r + c*r*f + f`` (the depthwise part has no bias).
    Depthwise output channel ``i*rank + j`` holds eigen-filter ``j`` of input channel ``i``.

    Initialisation keeps a default Conv2d's output variance: unit-gain depthwise filters
    (variance 1/(s*s)) and PyTorch's default init for the pointwise part.

    Two ways compute the same function: the two factor convolutions, or the equivalent dense
    kernel (``kernel()``, rebuilt from the factors at every call, so gradients reach the
    factors). A depthwise convolution with ``rank`` >= 2 filters per channel is a slow grouped
    convolution on CPUs, so the forward pass runs the dense kernel when it costs at most
    ``DENSE_MAX_COST`` times the factors' multiply-adds; where it costs more (wide outputs at low
    rank) the factors are faster (``studies/benchmarks/decef_kernel.py`` measures the
    crossover). Parameters are the factors'; FLOPs are counted for the factorised form.
    """

    DENSE_MAX_COST = 3.0

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        rank: int,
        stride: int = 1,
        padding: int | str = "same",
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = positive_int("in_channels", in_channels)
        self.out_channels = positive_int("out_channels", out_channels)
        self.kernel_size = positive_int("kernel_size", kernel_size)
        self.rank = positive_int("rank", rank)
        self.stride = positive_int("stride", stride)
        if self.rank > self.kernel_size**2:
            raise ValueError(
                f"rank must be <= kernel_size**2 = {self.kernel_size ** 2} (a full convolution), got {self.rank}"
            )
        pad = conv_padding(padding, self.kernel_size)
        c, r = self.in_channels, self.rank
        self.depthwise = nn.Conv2d(c, c * r, self.kernel_size, self.stride, pad, groups=c, bias=False)
        self.pointwise = nn.Conv2d(c * r, self.out_channels, 1, bias=bias)
        nn.init.normal_(self.depthwise.weight, std=1 / math.sqrt(self.kernel_size**2))
        s2, f = self.kernel_size**2, self.out_channels
        self.runs_dense = f * s2 <= self.DENSE_MAX_COST * r * (s2 + f)

    def kernel(self) -> torch.Tensor:
        """The Conv2d kernel (f, c, s, s) this layer computes: eigen-filters mixed by the pointwise weights."""
        c, r, s, f = self.in_channels, self.rank, self.kernel_size, self.out_channels
        return torch.einsum("fcr,crij->fcij", self.pointwise.weight.view(f, c, r), self.depthwise.weight.view(c, r, s, s))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.runs_dense:
            # einsum returns the kernel in neither layout, and the convolution then ran channels_last
            # even on an NCHW x: the kernel takes x's layout (NCHW where x's one channel leaves it open).
            strictly_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
            kernel = self.kernel().contiguous(memory_format=torch.channels_last if strictly_last else torch.contiguous_format)
            return F.conv2d(x, kernel, self.pointwise.bias, self.depthwise.stride, self.depthwise.padding)
        return self.pointwise(self.depthwise(x))

    def multiply_accumulates(self, output: torch.Tensor) -> int:
        """Of one image whose output is ``output[0]``: the two factor convolutions, whichever way it runs."""
        positions = output[0, 0].numel()
        return positions * self.in_channels * self.rank * (self.kernel_size**2 + self.out_channels)

    @torch.no_grad()
    def init_from_dense(self, conv: nn.Conv2d) -> None:
        """Start from a trained ``conv``: per input channel, the f x (s*s) slice of its kernel is
        U S V^T, and this layer keeps its first ``rank`` components; exact at rank s*s.

        Depthwise filter i*r + j is row j of V^T (eigen-filter j of channel i), and the pointwise
        weight of that channel is column j of U*S. When f < s*s the slice has fewer than s*s
        singular vectors; a full SVD then completes V so every depthwise filter is a unit filter
        (its pointwise weight, M v, is zero, but both can learn).
        """
        f, c, s, _ = conv.weight.shape
        r = self.rank
        slices = conv.weight.double().permute(1, 0, 2, 3).reshape(c, f, s * s)
        vt = torch.linalg.svd(slices, full_matrices=f < s * s).Vh[:, :r]  # (c, r, s*s)
        pointwise = slices @ vt.mT  # (c, f, r): M V_r = U_r S_r
        self.depthwise.weight.copy_(vt.reshape(c * r, 1, s, s))
        self.pointwise.weight.copy_(pointwise.permute(1, 0, 2).reshape(f, c * r, 1, 1))
        if conv.bias is not None and self.pointwise.bias is not None:
            self.pointwise.bias.copy_(conv.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"rank={self.rank}, stride={self.stride}"
        )
