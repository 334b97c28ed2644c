"""Inference latency in PyTorch eager against ONNX Runtime, for a study's baselines and front members:
does the front by latency change with the runtime a network is deployed in?

A search measures latency in PyTorch eager (``ranksearch.latency.measure_latency``) unless it
minimises ``latency:onnx`` (``measure_onnx_latency``: the network exported to ONNX and run by
ONNX Runtime's CPU execution provider). The layers of this project are thin convolutions, where
the two runtimes may rank networks differently, so this script times both on the same networks.

What it does: it reads a committed study (default ``studies/cifar10-all``: CIFAR-10, every
family), takes its parent and baselines and up to ``--members`` members of its front (evenly
spread over the front by parameters, both ends included), builds each network (latency does not
depend on the weights' values, so no training) and, for ``--rounds`` rounds, times each network
in eager and then in ONNX Runtime, alternating which runtime goes first, with the same threads
(``--threads``) and the same settings: batch 1 (median of ``--repeats``) and per image in a batch
of ``--batch`` (median of ``--batch-repeats``). The figure per network and runtime is the median
over rounds. Then the Pareto front of validation accuracy (as the study recorded it) against each
runtime's latency, among the networks timed, at batch 1 and at the batch, and whether the two
runtimes' fronts hold the same networks.

Run it on a quiet machine (nothing else running; timings on a busy one mean little), and put the
printed table and verdict with the machine, threads and versions in RESULTS.md beside this file:

    python studies/benchmarks/onnx_latency.py                              # the real run
    python studies/benchmarks/onnx_latency.py --threads 2 --json out.json  # another thread count, and the numbers as JSON
    python studies/benchmarks/onnx_latency.py --members 2 --rounds 1 --repeats 2 --batch-repeats 1 --batch 8   # a smoke test
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import torch

from lightlayers import build_model, spec_from_dict
from ranksearch.latency import LARGE_BATCH, measure_latency, measure_onnx_latency
from ranksearch.results import Row, pareto_front, study_tables
from ranksearch.storage import open_run
from ranksearch.verdict_parts import Choice

ROOT = Path(__file__).resolve().parents[2]
RUNTIMES = ("eager", "onnx")


def spread(front: list[Row], n: int) -> list[Row]:
    """``n`` members evenly spread over the front by position (fewest parameters first), both ends included."""
    if n >= len(front):
        return list(front)
    if n <= 1:
        return front[:n]
    picks = sorted({round(i * (len(front) - 1) / (n - 1)) for i in range(n)})
    return [front[i] for i in picks]


def time_once(model: torch.nn.Module, shape: tuple[int, int, int], runtime: str, args) -> tuple[float, float]:
    """(ms at batch 1, ms per image at the batch) in one runtime."""
    if runtime == "eager":
        m = measure_latency(model, shape, torch.device("cpu"), args.repeats, args.batch_repeats, args.batch)
        return m["latency_ms"], m["latency_ms_batch"]
    m = measure_onnx_latency(model, shape, args.threads, args.repeats, args.batch_repeats, args.batch)
    return m["latency_onnx_ms"], m["latency_onnx_ms_batch"]


def front_names(rows: list[Row], column: str, names: dict[int, str]) -> list[str]:
    return [names[id(r)] for r in pareto_front(rows, column)]


def _repo_relative(path: str) -> str:
    """The study's path from the repository root when it is inside it: the record names no machine."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default=str(ROOT / "studies" / "cifar10-all"), help="a run folder (default studies/cifar10-all)")
    parser.add_argument("--members", type=int, default=6, help="front members to time, spread over the front (default 6)")
    parser.add_argument("--threads", type=int, default=1, help="threads of both runtimes (default 1, as one search job of two on 2 cores)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of both runtimes, alternating which goes first (default 5)")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs at batch 1 per round (default 15, as the search)")
    parser.add_argument("--batch-repeats", type=int, default=3, help="timed runs of the batch per round (default 3, as the search)")
    parser.add_argument("--batch", type=int, default=LARGE_BATCH, help=f"the large batch (default {LARGE_BATCH}, as the search)")
    parser.add_argument("--json", help="also write every figure to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    run = open_run(args.study)
    tables = study_tables(run.study, run.config)
    network = run.config.model and run.config.model["source"].rpartition(":")[2]
    rows = [r for r in tables.references if r.val_accuracy is not None] + spread(tables.front, args.members)
    names = {id(r): Choice.of(r, network).name for r in rows}
    import onnxruntime

    print(f"study {run.study.study_name} ({args.study}): {len(rows)} networks; {args.threads} thread(s); "
          f"{args.rounds} rounds of {args.repeats} runs at batch 1 and {args.batch_repeats} of batch {args.batch}")
    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}")

    figures: dict[int, dict[str, list[tuple[float, float]]]] = {id(r): {rt: [] for rt in RUNTIMES} for r in rows}
    for round_ in range(args.rounds):
        order = RUNTIMES if round_ % 2 == 0 else RUNTIMES[::-1]
        for r in rows:
            spec = spec_from_dict(r.spec)
            model = build_model(spec).eval()
            for runtime in order:
                figures[id(r)][runtime].append(time_once(model, (spec.in_channels, spec.image_size, spec.image_size), runtime, args))
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)

    timed = []
    for r in rows:
        medians = {f"{rt}_{k}": statistics.median(v[i] for v in figures[id(r)][rt])
                   for rt in RUNTIMES for i, k in enumerate(("ms", "ms_batch"))}
        timed.append(replace(r, measures={**r.measures, **medians}))
    names.update({id(t): names[id(r)] for t, r in zip(timed, rows)})

    print(f"\n| network | params | val acc | eager ms (batch 1) | ONNX Runtime ms (batch 1) | eager / ORT | "
          f"eager ms/image (batch {args.batch}) | ORT ms/image (batch {args.batch}) | eager / ORT |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for t in timed:
        v = t.measures
        print(f"| {names[id(t)]} | {t.trainable_params:,} | {t.val_accuracy:.4f} | {v['eager_ms']:.3f} | {v['onnx_ms']:.3f} | "
              f"{v['eager_ms'] / v['onnx_ms']:.2f}x | {v['eager_ms_batch']:.4f} | {v['onnx_ms_batch']:.4f} | "
              f"{v['eager_ms_batch'] / v['onnx_ms_batch']:.2f}x |")

    verdicts = {}
    for label, suffix in (("batch 1", "ms"), (f"batch {args.batch}", "ms_batch")):
        eager, ort = front_names(timed, f"eager_{suffix}", names), front_names(timed, f"onnx_{suffix}", names)
        same = set(eager) == set(ort)
        verdicts[label] = {"eager": eager, "onnx": ort, "same": same}
        print(f"\nfront by latency at {label}, fastest first:\n  eager:        {', '.join(eager)}\n  ONNX Runtime: {', '.join(ort)}")
        if same:
            print(f"  the same networks: at {label} the front by latency does not change between the runtimes")
        else:
            only_e, only_o = [n for n in eager if n not in ort], [n for n in ort if n not in eager]
            print(f"  the front changes at {label}: only in eager's {', '.join(only_e) or 'none'}; "
                  f"only in ONNX Runtime's {', '.join(only_o) or 'none'}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "study": _repo_relative(args.study), "threads": args.threads, "rounds": args.rounds, "repeats": args.repeats,
            "batch_repeats": args.batch_repeats, "batch": args.batch, "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "networks": [{"name": names[id(t)], "trainable_params": t.trainable_params, "val_accuracy": t.val_accuracy,
                          **{k: t.measures[k] for k in ("eager_ms", "onnx_ms", "eager_ms_batch", "onnx_ms_batch")}}
                         for t in timed],
            "fronts": verdicts,
        }, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
