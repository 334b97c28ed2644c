"""Inference latency of a network: batch 1 and a large batch, medians of repeats, in two runtimes.

Parameters, FLOPs and wall time disagree for these layers (thin convolutions vectorise badly),
so the search can measure the one a deployment pays. ``measure_latency``: PyTorch eager on the
device it trains on, eval mode, fp32, channels_last. ``measure_onnx_latency``: the network
exported to ONNX and run by ONNX Runtime's CPU execution provider (``ranksearch.onnx_io``), the
runtime a deployed file runs in. Both with the threads this process trains with (recorded beside
the figures), before the candidate trains; the same repeats and batch in both.
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
                    repeats: int = 15, batch_repeats: int = 3, batch: int = LARGE_BATCH) -> dict[str, float]:
    """``latency_ms``: one image, median of ``repeats``; ``latency_ms_batch``: per image in a batch of ``batch``;
    ``latency_threads``: this process's torch threads (on the CPU)."""
    model = model.to(device, memory_format=torch.channels_last).eval()
    one = torch.randn(1, *input_shape, device=device).contiguous(memory_format=torch.channels_last)
    many = torch.randn(batch, *input_shape, device=device).contiguous(memory_format=torch.channels_last)
    for _ in range(3):  # warm-up: allocations, kernel choice
        model(one)
    model(many)
    single = _median_seconds(lambda: model(one), repeats, device)
    batched = _median_seconds(lambda: model(many), batch_repeats, device)
    threads = {"latency_threads": torch.get_num_threads()} if device.type == "cpu" else {}
    return {"latency_ms": round(1000 * single, 4), "latency_ms_batch": round(1000 * batched / batch, 5), **threads}


def measure_onnx_latency(model: nn.Module, input_shape: tuple[int, int, int], threads: int | None = None,
                         repeats: int = 15, batch_repeats: int = 3, batch: int = LARGE_BATCH) -> dict[str, float]:
    """``latency_onnx_ms``: one image in ONNX Runtime (CPU), median of ``repeats``; ``latency_onnx_ms_batch``: per
    image in a batch of ``batch``; ``latency_onnx_threads``: its intra-op threads (default: this process's torch threads)."""
    from ranksearch.onnx_io import INPUT, for_export, onnx_bytes, session

    threads = threads or torch.get_num_threads()
    gen = torch.Generator().manual_seed(0)
    one = torch.randn(1, *input_shape, generator=gen).numpy()
    many = torch.randn(batch, *input_shape, generator=gen).numpy()
    run = session(onnx_bytes(for_export(model), torch.from_numpy(many[:2])), threads).run
    for _ in range(3):  # warm-up: allocations, kernel choice
        run(None, {INPUT: one})
    run(None, {INPUT: many})
    cpu = torch.device("cpu")
    single = _median_seconds(lambda: run(None, {INPUT: one}), repeats, cpu)
    batched = _median_seconds(lambda: run(None, {INPUT: many}), batch_repeats, cpu)
    return {"latency_onnx_ms": round(1000 * single, 4), "latency_onnx_ms_batch": round(1000 * batched / batch, 5),
            "latency_onnx_threads": threads}
