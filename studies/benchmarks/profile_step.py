"""Where a CPU training step of the CIFAR-10 reference network spends its time, per layer family.

One thread (as each of `--jobs auto`'s processes has on a 2-core machine), the fast recipe's
step as the trainer runs it (channels_last, bf16 autocast where the CPU has it, batch 64, Adam),
random data. Prints images/s per model and the operators that take most of the step
(torch.profiler, self CPU time), to say what limits a search's wall time.

    python studies/benchmarks/profile_step.py
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

from lightlayers import build_model, reference_spec
from ranksearch.hardware import cpu_has_native_bf16

MODELS = [("conv", None), ("separable", None), ("light", 1), ("light", 3), ("decef", 2)]


def step_fn(model: torch.nn.Module, batch: int, bf16: bool):
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per model")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--top", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(1)
    bf16 = cpu_has_native_bf16()
    print(f"torch {torch.__version__}, 1 thread, batch {args.batch}, {'bf16' if bf16 else 'fp32'}, channels_last", flush=True)
    for family, rank in MODELS:
        model = build_model(reference_spec("cifar10", family, rank)).to(memory_format=torch.channels_last)
        step = step_fn(model, args.batch, bf16)
        for _ in range(3):
            step()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            step()
            n += args.batch
        rate = n / (time.perf_counter() - t0)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(10):
                step()
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events)
        label = f"{family}{'' if rank is None else f' k/r={rank}'}"
        print(f"\n{label:<14} {rate:8.0f} images/s   ({sum(p.numel() for p in model.parameters()):,} params)")
        for e in events[: args.top]:
            print(f"    {100 * e.self_cpu_time_total / total:5.1f} %  {e.key}")


if __name__ == "__main__":
    main()
