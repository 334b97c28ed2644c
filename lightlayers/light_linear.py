"""LightLinear: the LightLayers paper's rank-k dense layer, y = (x W1) W2 + b."""

from __future__ import annotations

import math

import torch
from torch import nn

from lightlayers._args import positive_int


class LightLinear(nn.Module):
    """A linear map factorised through rank ``rank``: ``in*k + k*out + out`` parameters.

    ``weight1`` is (in_features, rank) and ``weight2`` is (rank, out_features), so the layer
    equals an ``nn.Linear`` whose weight is ``(weight1 @ weight2).T``. Initialised so the
    product has the variance of a default ``nn.Linear`` weight, 1 / (3 * in_features).
    """

    def __init__(self, in_features: int, out_features: int, rank: int, bias: bool = True, scale: float = 1.0) -> None:
        super().__init__()
        self.in_features = positive_int("in_features", in_features)
        self.out_features = positive_int("out_features", out_features)
        self.rank = positive_int("rank", rank)
        # The paper's reference LightDense multiplies both factors by sqrt(2/units) on every call:
        # a product scaled by 2/units, which changes how Adam's steps move it. 1 is a plain product.
        self.scale = float(scale)
        self.weight1 = nn.Parameter(torch.randn(self.in_features, self.rank) / math.sqrt(self.in_features))
        self.weight2 = nn.Parameter(torch.randn(self.rank, self.out_features) / math.sqrt(3 * self.rank))
        if bias:
            bound = 1 / math.sqrt(self.in_features)
            self.bias = nn.Parameter(torch.empty(self.out_features).uniform_(-bound, bound))
        else:
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x @ self.weight1) @ self.weight2
        if self.scale != 1.0:
            y = y * self.scale
        return y if self.bias is None else y + self.bias

    def multiply_accumulates(self, output: torch.Tensor) -> int:
        """Of one input row: through the rank, not the dense product."""
        return self.rank * (self.in_features + self.out_features)

    @torch.no_grad()
    def init_from_dense(self, linear: nn.Linear) -> None:
        """Start from a trained ``linear``: W = U S V^T, weight1 = V_k sqrt(S_k), weight2 =
        sqrt(S_k) U_k^T, so (x W1) W2 = x W_k^T; exact at rank min(in, out)."""
        k = self.rank
        u, sigma, vh = torch.linalg.svd(linear.weight.double(), full_matrices=False)
        root = (sigma[:k] / self.scale).sqrt()  # the layer multiplies its product by scale
        self.weight1.copy_(vh[:k].T * root)
        self.weight2.copy_(root[:, None] * u[:, :k].T)
        if linear.bias is not None and self.bias is not None:
            self.bias.copy_(linear.bias)

    def extra_repr(self) -> str:
        scale = f", scale={self.scale:g}" if self.scale != 1.0 else ""
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}{scale}"
