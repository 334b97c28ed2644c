"""DeCEFConv2d's two ways to compute the same function, timed against each other on this CPU.

"factorized": the depthwise (grouped) convolution then the 1x1, as the layer is defined.
"dense kernel": the kernel rebuilt from the factors (``DeCEFConv2d.kernel()``) and one
convolution. ``DeCEFConv2d.forward`` runs the dense kernel where it costs at most
``DENSE_MAX_COST`` times the factors' multiply-adds ("runs" says which it picks). Then the
CIFAR-10 reference network, all-DeCEF, one training step (Adam) with every layer on its
factors against every layer as built. One thread, channels_last, bf16 autocast where the CPU
has it, forward and backward, interleaved repeats, medians.

    python studies/benchmarks/decef_kernel.py
"""

from __future__ import annotations

import statistics
import time

import torch

from lightlayers import DeCEFConv2d, build_model, reference_spec
from ranksearch.hardware import cpu_has_native_bf16

# (in, out, image side, rank, batch): the CIFAR-10 reference network's widths, the headline's
# warm-start ranks, and ResNet-18's widths.
SHAPES = [(16, 32, 32, 1, 64), (16, 32, 32, 2, 64), (32, 64, 16, 2, 64), (32, 64, 16, 4, 64), (64, 64, 8, 5, 64),
          (64, 64, 16, 9, 64), (64, 64, 56, 2, 16), (128, 128, 16, 2, 64), (128, 128, 8, 3, 64), (128, 128, 16, 5, 64),
          (256, 256, 8, 2, 64), (512, 512, 4, 2, 64)]
REPEATS, STEPS = 3, 5


def factorized(layer: DeCEFConv2d, x: torch.Tensor) -> torch.Tensor:
    return layer.pointwise(layer.depthwise(x))


def dense_kernel(layer: DeCEFConv2d, x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.conv2d(x, layer.kernel(), layer.pointwise.bias, layer.depthwise.stride, layer.depthwise.padding)


def seconds_per_step(fn, layer: DeCEFConv2d, x: torch.Tensor, bf16: bool) -> float:
    started = time.perf_counter()
    for _ in range(STEPS):
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            y = fn(layer, x)
        y.float().sum().backward()
    return (time.perf_counter() - started) / STEPS


def network_images_per_second(model: torch.nn.Module, bf16: bool, batch: int = 64, steps: int = 8) -> float:
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    started = time.perf_counter()
    for _ in range(steps):
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return batch * steps / (time.perf_counter() - started)


def networks(bf16: bool) -> None:
    print("\nCIFAR-10 reference network, every conv layer DeCEF rank r, one training step, batch 64")
    print(f"{'rank':>4} {'factors images/s':>17} {'as built images/s':>18} {'speedup':>8}  layers on the dense kernel")
    for r in (2, 3, 5):
        model = build_model(reference_spec("cifar10", "decef", r)).to(memory_format=torch.channels_last)
        layers = [m for m in model.modules() if isinstance(m, DeCEFConv2d)]
        built = [m.runs_dense for m in layers]
        network_images_per_second(model, bf16, steps=2)  # warm-up
        a, b = [], []
        for _ in range(REPEATS):
            for m in layers:
                m.runs_dense = False
            a.append(network_images_per_second(model, bf16))
            for m, dense in zip(layers, built):
                m.runs_dense = dense
            b.append(network_images_per_second(model, bf16))
        fa, fb = statistics.median(a), statistics.median(b)
        print(f"{r:>4} {fa:>17.0f} {fb:>18.0f} {fb / fa:>7.2f}x  {sum(built)} of {len(layers)}")


def main() -> None:
    torch.set_num_threads(1)
    bf16 = cpu_has_native_bf16()
    print(f"torch {torch.__version__}, 1 thread, {'bf16' if bf16 else 'fp32'}, channels_last, forward + backward")
    print(f"{'in':>4} {'out':>4} {'side':>4} {'rank':>4} {'batch':>5} {'factorized ms':>14} {'dense kernel ms':>16} {'speedup':>8}  runs")
    for c, f, side, r, batch in SHAPES:
        torch.manual_seed(0)
        layer = DeCEFConv2d(c, f, 3, r)
        x = torch.randn(batch, c, side, side).contiguous(memory_format=torch.channels_last)
        a, b = [], []
        for _ in range(REPEATS):
            a.append(seconds_per_step(factorized, layer, x, bf16))
            b.append(seconds_per_step(dense_kernel, layer, x, bf16))
        fa, fb = statistics.median(a), statistics.median(b)
        runs = "dense kernel" if layer.runs_dense else "factors"
        print(f"{c:>4} {f:>4} {side:>4} {r:>4} {batch:>5} {fa * 1e3:>14.1f} {fb * 1e3:>16.1f} {fa / fb:>7.2f}x  {runs}", flush=True)
    networks(bf16)


if __name__ == "__main__":
    main()
