"""Inference latency of a network on the device it trains on: batch 1 and a large batch, medians of repeats.

Parameters, FLOPs and wall time disagree for these layers (thin convolutions vectorise badly),
so the search can measure the one a deployment pays. Measured in eval mode, fp32,
channels_last, with the threads this process trains with, before the candidate trains.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

LARGE_BATCH = 256


def _median_seconds(fn, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.no_grad()
def measure_latency(model: nn.Module, input_shape: tuple[int, int, int], device: torch.device,
                    repeats: int = 15, batch_repeats: int = 3) -> dict[str, float]:
    """``latency_ms``: one image, median of ``repeats``; ``latency_ms_batch``: per image in a batch of 256."""
    model = model.to(device, memory_format=torch.channels_last).eval()
    one = torch.randn(1, *input_shape, device=device).contiguous(memory_format=torch.channels_last)
    many = torch.randn(LARGE_BATCH, *input_shape, device=device).contiguous(memory_format=torch.channels_last)
    for _ in range(3):  # warm-up: allocations, kernel choice
        model(one)
    model(many)
    single = _median_seconds(lambda: model(one), repeats, device)
    batch = _median_seconds(lambda: model(many), batch_repeats, device)
    return {"latency_ms": round(1000 * single, 4), "latency_ms_batch": round(1000 * batch / LARGE_BATCH, 5)}
