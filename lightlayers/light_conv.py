"""LightConv2d: the LightLayers paper's rank-k convolution (arXiv 2101.02268)."""

from __future__ import annotations

import torch
from torch import nn

from lightlayers._args import conv_padding, positive_int


class LightConv2d(nn.Module):
    """An s x s convolution c -> k, a ReLU, then an s x s convolution k -> f.

    This is the form of the paper's reference code, from which every parameter count in its
    tables comes: ``s*s*c*k + k + s*s*k*f + f`` trainable parameters (with bias).
    The stride is applied by the first sub-convolution only; the second always has stride 1,
    so the output size equals that of an ``nn.Conv2d`` with the same stride and padding.

    Initialisation keeps the output variance of a default ``nn.Conv2d`` of the same shape:
    the first factor is He-initialised (so the ReLU passes the input's second moment on) and
    the second uses PyTorch's default convolution init, whose gain is the dense layer's.
    """

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
        pad = conv_padding(padding, self.kernel_size)
        self.reduce = nn.Conv2d(self.in_channels, self.rank, self.kernel_size, self.stride, pad, bias=bias)
        self.expand = nn.Conv2d(self.rank, self.out_channels, self.kernel_size, 1, "same", bias=bias)
        nn.init.kaiming_normal_(self.reduce.weight, nonlinearity="relu")
        if self.reduce.bias is not None:
            nn.init.zeros_(self.reduce.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(torch.relu(self.reduce(x)))

    @torch.no_grad()
    def init_from_dense(self, conv: nn.Conv2d) -> None:
        """Start from a trained ``conv`` through the ReLU: ``relu(z) - relu(-z) = z``.

        The kernel unfolded to f x (c*s*s) is U S V^T. This layer holds rank // 2 of its
        components, each twice with opposite signs: the first convolution computes +z and -z,
        the second adds them back with weights +u and -u at the centre tap of its kernel. An
        odd rank spends its last channel on the positive half of the next component; channels
        beyond twice the kernel's rank keep their default first filters and a zero second weight
        (they add nothing yet, but learn). Exact from rank 2 * min(f, c*s*s).
        """
        f, c, s, _ = conv.weight.shape
        k = self.rank
        u, sigma, vh = torch.linalg.svd(conv.weight.double().reshape(f, c * s * s), full_matrices=False)
        pairs = min(k // 2, len(sigma))
        kept = min(k - pairs, len(sigma))  # pairs, plus one positive half if k is odd
        root = sigma[:kept].sqrt()
        first = vh[:kept] * root[:, None]  # (kept, c*s*s)
        second = u[:, :kept] * root  # (f, kept)
        first = torch.cat([first[:pairs], -first[:pairs], first[pairs:]])
        second = torch.cat([second[:, :pairs], -second[:, :pairs], second[:, pairs:]], dim=1)
        used = len(first)
        self.reduce.weight[:used] = first.reshape(used, c, s, s)
        if self.reduce.bias is not None:
            self.reduce.bias.zero_()
        centre = (s - 1) // 2  # the tap that reads the same pixel under the second convolution's "same" padding
        self.expand.weight.zero_()
        self.expand.weight[:, :used, centre, centre] = second
        if conv.bias is not None and self.expand.bias is not None:
            self.expand.bias.copy_(conv.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"rank={self.rank}, stride={self.stride}"
        )
