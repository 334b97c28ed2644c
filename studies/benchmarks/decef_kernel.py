"""DeCEFConv2d's two ways to compute the same function, timed against each other on this CPU.

"factorized": the depthwise (grouped) convolution then the 1x1, as the layer is defined.
"dense kernel": the kernel rebuilt from the factors (``DeCEFConv2d.kernel()``) and one
convolution, what ``DeCEFConv2d.forward`` runs. One thread, the trainer's step (channels_last,
bf16 autocast where the CPU has it, forward and backward), interleaved repeats, medians.

    python studies/benchmarks/decef_kernel.py
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from lightlayers import DeCEFConv2d
from ranksearch.hardware import cpu_has_native_bf16

# (in, out, image side, rank, batch): the CIFAR-10 reference network's widths, the headline's
# warm-start ranks, and ResNet-18's widths.
SHAPES = [(16, 32, 32, 2, 64), (32, 64, 16, 4, 64), (64, 64, 8, 5, 64), (64, 64, 56, 2, 16),
          (128, 128, 16, 2, 64), (256, 256, 8, 2, 64), (512, 512, 4, 2, 64)]
REPEATS, STEPS = 3, 5


def factorized(layer: DeCEFConv2d, x: torch.Tensor) -> torch.Tensor:
    return layer.pointwise(layer.depthwise(x))


def dense_kernel(layer: DeCEFConv2d, x: torch.Tensor) -> torch.Tensor:
    return layer(x)


def seconds_per_step(fn, layer: DeCEFConv2d, x: torch.Tensor, bf16: bool) -> float:
    started = time.perf_counter()
    for _ in range(STEPS):
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            y = fn(layer, x)
        y.float().sum().backward()
    return (time.perf_counter() - started) / STEPS


def main() -> None:
    torch.set_num_threads(1)
    bf16 = cpu_has_native_bf16()
    print(f"torch {torch.__version__}, 1 thread, {'bf16' if bf16 else 'fp32'}, channels_last, forward + backward")
    print(f"{'in':>4} {'out':>4} {'side':>4} {'rank':>4} {'batch':>5} {'factorized ms':>14} {'dense kernel ms':>16} {'speedup':>8}")
    for c, f, side, r, batch in SHAPES:
        torch.manual_seed(0)
        layer = DeCEFConv2d(c, f, 3, r)
        x = torch.randn(batch, c, side, side).contiguous(memory_format=torch.channels_last)
        a, b = [], []
        for _ in range(REPEATS):
            a.append(seconds_per_step(factorized, layer, x, bf16))
            b.append(seconds_per_step(dense_kernel, layer, x, bf16))
        fa, fb = statistics.median(a), statistics.median(b)
        print(f"{c:>4} {f:>4} {side:>4} {r:>4} {batch:>5} {fa * 1e3:>14.1f} {fb * 1e3:>16.1f} {fa / fb:>7.2f}x")


if __name__ == "__main__":
    main()
