"""SeparableConv2d: depthwise s x s then pointwise 1x1, as Keras' SeparableConv2D."""

from __future__ import annotations

from lightlayers.decef_conv import DeCEFConv2d


class SeparableConv2d(DeCEFConv2d):
    """Depthwise s x s (no bias) then pointwise 1x1 c -> f: ``s*s*c + c*f + f`` parameters.

    Exactly a ``DeCEFConv2d`` of rank 1, which is how it is implemented.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | str = "same",
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, 1, stride, padding, bias)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
