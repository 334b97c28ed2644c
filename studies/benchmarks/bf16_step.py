"""Does bf16 autocast pay on this CPU? Images/s of one training step, fp32 against bf16.

One thread (as each ``ranksearch run`` job trains), channels_last, batch 64, Adam, random
data; the paper's CIFAR-10 Conv2D, Light k=3, Light k=1 and SeparableConv2D networks. Each
precision is timed for 3 s, three times, interleaved; the medians count. The trainer uses bf16
where ``ranksearch.hardware.cpu_has_native_bf16()`` says so; this is the check that it should.

    python studies/benchmarks/bf16_step.py
"""

from __future__ import annotations

import statistics
import time

import torch

from lightlayers import build_model, reference_spec
from ranksearch.hardware import cpu_has_native_bf16

from profile_step import step_fn  # beside this file: one training step, the same in both benchmarks

BATCH = 64
SECONDS = 3.0
REPEATS = 3


def images_per_second(name: str, bf16: bool) -> float:
    kind, _, rank = name.partition(" k=")
    spec = reference_spec("cifar10", kind, int(rank)) if rank else reference_spec("cifar10", kind)
    step = step_fn(build_model(spec).to(memory_format=torch.channels_last), BATCH, bf16)
    for _ in range(3):
        step()
    images, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        step()
        images += BATCH
    return images / (time.perf_counter() - start)


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, cpu_has_native_bf16: {cpu_has_native_bf16()}")
    for name in ["conv", "light k=3", "light k=1", "separable"]:
        runs: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(REPEATS):
            for bf16 in (False, True):
                runs[bf16].append(images_per_second(name, bf16))
        fp32, bf16 = statistics.median(runs[False]), statistics.median(runs[True])
        print(f"{name:<10} fp32 {fp32:7.0f}  bf16 {bf16:7.0f} images/s  bf16/fp32 {bf16 / fp32:.2f}", flush=True)


if __name__ == "__main__":
    main()
