"""Two of issue 26's levers on one training step, against the trainer's step as it is: AdamW's
fused CPU path, and ``torch.compile`` of the network (compile seconds printed beside the gain).

One thread (as each of a search's jobs has on a 2-core machine), channels_last, fp32 (or bf16
autocast with ``--bf16``, the fast recipe's default where the CPU computes bf16 natively), batch 64,
random data; the four models the trainer-speed issue names. Each variant is timed for 4 s, the
three variants interleaved, 3 repeats, medians. "first compile s" is the first repeat's warm-up
with an empty inductor cache (later repeats find the compiled code cached).

    python studies/benchmarks/step_levers.py [--bf16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="step-levers-inductor-"))  # a cold first compile

import torch  # noqa: E402 (after the cache folder is chosen)

from lightlayers import build_model, reference_spec

MODELS = [("mnist", "light", 4), ("mnist", "conv", None), ("cifar10", "conv", None), ("cifar10", "light", 3)]
VARIANTS = ("eager, foreach AdamW", "eager, fused AdamW", "compiled, fused AdamW")
BATCH, SECONDS, REPEATS = 64, 4.0, 3


def images_per_second(dataset: str, family: str, rank: int | None, variant: str, bf16: bool) -> tuple[float, float]:
    """(images/s over ``SECONDS`` after warming up, seconds the warm-up took: the compile, if any)."""
    torch.manual_seed(0)
    spec = reference_spec(dataset, family, rank) if rank else reference_spec(dataset, family)
    model = build_model(spec).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=5e-4, fused=variant != VARIANTS[0])
    c, hw = (3, 32) if dataset == "cifar10" else (1, 28)
    x = torch.randn(BATCH, c, hw, hw).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (BATCH,))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    net = torch.compile(model) if variant.startswith("compiled") else model

    def step() -> None:
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    for _ in range(3):
        step()
    warm = time.perf_counter() - t0
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < SECONDS:
        step()
        n += BATCH
    return n / (time.perf_counter() - t0), warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast for the forward pass")
    bf16 = parser.parse_args().bf16
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, batch {BATCH}, {'bf16 autocast' if bf16 else 'fp32'}, channels_last, {REPEATS} repeats interleaved, medians")
    print(f"{'model':<22} " + " ".join(f"{v:>22}" for v in VARIANTS) + f" {'first compile s':>16}")
    for dataset, family, rank in MODELS:
        runs: dict[str, list[float]] = {v: [] for v in VARIANTS}
        compile_s: list[float] = []
        for _ in range(REPEATS):
            for v in VARIANTS:
                ips, warm = images_per_second(dataset, family, rank, v, bf16)
                runs[v].append(ips)
                if v.startswith("compiled"):
                    compile_s.append(warm)
        base = statistics.median(runs[VARIANTS[0]])
        name = f"{dataset} {family}{'' if rank is None else f' k={rank}'}"
        cells = [f"{statistics.median(runs[v]):>13,.0f} ({statistics.median(runs[v]) / base:.2f}x)" for v in VARIANTS]
        print(f"{name:<22} " + " ".join(f"{c:>22}" for c in cells) + f" {compile_s[0]:>16.1f}", flush=True)


if __name__ == "__main__":
    main()
