"""NCHW or channels_last: which memory format trains a network faster on this CPU, by width.

One training step (forward, backward, AdamW; batch 64; random data) of the paper's two
architectures (grey 28x28 plain, colour 32x32 residual) at three width ladders and four
families, in both formats, at the precision the fast recipe trains in here (``--precision`` to
override). Each cell runs ``--seconds``; the two formats alternate within each repeat and the
median of ``--repeats`` counts. It is how ``trainer.memory_format`` was chosen (RESULTS.md,
"Memory format by width").

``--blocks`` instead times the CIFAR-10 reference networks with their first 0-3 blocks NCHW and
the rest channels_last (the batch converted where the layout changes): whether a layout chosen
per layer would beat one per network. ``--inference`` times eval-mode fp32 forward passes (one
image, and per image in a batch of 256), as ``ranksearch.latency`` measures a deployed network,
in both layouts: whether the training rule holds for inference.

    python studies/benchmarks/memory_format.py [--threads 2] [--precision bf16|fp32] [--blocks | --inference]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lightlayers import build_model, reference_spec, uniform_spec
from ranksearch.hardware import default_precision

ARCHITECTURES = [("plain", 1, 28), ("residual", 3, 32)]
WIDTHS = [(8, 16, 32), (12, 24, 48), (16, 32, 64)]
FAMILIES = [("conv", None), ("separable", None), ("light", 3), ("decef", 2)]
FORMATS = {"NCHW": torch.contiguous_format, "channels_last": torch.channels_last}


def split_network(spec, nchw_blocks: int) -> torch.nn.Module:
    """The reference network with its first ``nchw_blocks`` blocks NCHW, the rest channels_last."""
    torch.manual_seed(0)
    model = build_model(spec)
    for i, block in enumerate([model.block1, model.block2, model.block3]):
        block.to(memory_format=torch.contiguous_format if i < nchw_blocks else torch.channels_last)
        if i == nchw_blocks > 0:
            block.register_forward_pre_hook(lambda module, args: (args[0].contiguous(memory_format=torch.channels_last),))
    return model


def images_per_second(spec, fmt: torch.memory_format, bf16: bool, seconds: float, model=None) -> float:
    torch.manual_seed(0)
    model = build_model(spec).to(memory_format=fmt) if model is None else model
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    x = torch.randn(64, spec.in_channels, spec.image_size, spec.image_size).contiguous(memory_format=fmt)
    y = torch.randint(0, spec.num_classes, (64,))

    def step() -> None:
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 64
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=("bf16", "fp32"), default=default_precision("cpu"))
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--blocks", action="store_true", help="the per-block split of the CIFAR-10 networks instead")
    parser.add_argument("--inference", action="store_true", help="eval-mode fp32 latency in both layouts instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bf16 = args.precision == "bf16"
    if args.inference:
        print(f"torch {torch.__version__}, {args.threads} thread(s), {args.repeats} interleaved repeats")
        inference_table(args)
        return
    print(f"torch {torch.__version__}, {args.threads} threads, {args.precision}, batch 64, "
          f"{args.repeats} interleaved repeats of {args.seconds:g} s, medians")
    if args.blocks:
        blocks_table(args, bf16)
        return
    print(f"{'architecture':<22} {'widths':<13} {'family':<12} {'NCHW':>7} {'ch_last':>8} {'NCHW/cl':>8}")
    for arch, channels, size in ARCHITECTURES:
        for widths in WIDTHS:
            for family, rank in FAMILIES:
                spec = uniform_spec(arch, channels, size, 10, widths, family, rank)
                seen: dict[str, list[float]] = {name: [] for name in FORMATS}
                for repeat in range(args.repeats):
                    order = list(FORMATS) if repeat % 2 == 0 else list(reversed(FORMATS))
                    for name in order:
                        seen[name].append(images_per_second(spec, FORMATS[name], bf16, args.seconds))
                nchw, last = (statistics.median(seen[name]) for name in FORMATS)
                label = f"{family}{'' if rank is None else f' {rank}'}"
                print(f"{arch} {channels}x{size}x{size:<10} {str(widths):<13} {label:<12} {nchw:7.0f} {last:8.0f} "
                      f"{nchw / last:7.2f}x", flush=True)


def blocks_table(args: argparse.Namespace, bf16: bool) -> None:
    print("CIFAR-10 reference networks, first N blocks NCHW, the rest channels_last")
    print(f"{'family':<12}" + "".join(f"{f'N={n}':>8}" for n in range(4)))
    for family, rank in FAMILIES:
        spec = reference_spec("cifar10", family, rank)
        seen: dict[int, list[float]] = {n: [] for n in range(4)}
        for repeat in range(args.repeats):
            for n in (range(4) if repeat % 2 == 0 else reversed(range(4))):
                fmt = torch.contiguous_format if n > 0 else torch.channels_last
                seen[n].append(images_per_second(spec, fmt, bf16, args.seconds, split_network(spec, n)))
        label = f"{family}{'' if rank is None else f' {rank}'}"
        print(f"{label:<12}" + "".join(f"{statistics.median(seen[n]):8.0f}" for n in range(4)), flush=True)


@torch.no_grad()
def milliseconds_per_image(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    for _ in range(3):
        model(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times) / len(x)


def inference_table(args: argparse.Namespace) -> None:
    print("eval mode, fp32: ms per image, batch 1 (median of 15) and batch 256 (median of 3); NCHW / channels_last")
    for arch, channels, size in ARCHITECTURES:
        for widths in WIDTHS:
            for family, rank in FAMILIES:
                spec = uniform_spec(arch, channels, size, 10, widths, family, rank)
                seen: dict[tuple[str, int], list[float]] = {}
                for repeat in range(args.repeats):
                    for name in (list(FORMATS) if repeat % 2 == 0 else list(reversed(FORMATS))):
                        torch.manual_seed(0)
                        model = build_model(spec).to(memory_format=FORMATS[name]).eval()
                        for batch, repeats in ((1, 15), (256, 3)):
                            x = torch.randn(batch, channels, size, size).contiguous(memory_format=FORMATS[name])
                            seen.setdefault((name, batch), []).append(milliseconds_per_image(model, x, repeats))
                m = {key: statistics.median(v) for key, v in seen.items()}
                label = f"{family}{'' if rank is None else f' {rank}'}"
                print(f"{arch} {channels}x{size}x{size:<10} {str(widths):<13} {label:<12} "
                      f"batch 1 {m['NCHW', 1]:.3f} / {m['channels_last', 1]:.3f} ms ({m['NCHW', 1] / m['channels_last', 1]:.2f}x)  "
                      f"batch 256 {m['NCHW', 256]:.4f} / {m['channels_last', 256]:.4f} ms ({m['NCHW', 256] / m['channels_last', 256]:.2f}x)",
                      flush=True)


if __name__ == "__main__":
    main()
