"""Pillow against torchvision.io for image folders: the same pixels, and how long a folder takes.

torchvision 0.29 deprecates ``torchvision.io``'s image decoding for removal, so ranksearch decodes
image folders with Pillow (``ranksearch.data``). This decodes every image of a folder both ways
and counts the images whose pixels differ, times both per image (interleaved in chunks of 1,000,
medians of the chunks), then the decoding loop of the whole folder as the code before ran it
(torchvision.io in a thread pool of one worker per core) against today's (Pillow, one thread),
interleaved ``--repeats`` times, and ``read_image_folder`` on the whole folder (the decoding a
search does once, before its tensor cache holds the dataset). One torch thread throughout.

    python studies/benchmarks/image_decode.py ../shared/datasets/cifar10-jpeg --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from ranksearch.data import IMAGE_SUFFIXES, _decode_rgb, read_image_folder

warnings.simplefilter("ignore", DeprecationWarning)  # torchvision.io says it is going: that is the point
from torchvision.io import ImageReadMode, decode_image  # noqa: E402


def _torchvision(raw: bytes) -> torch.Tensor:
    return decode_image(torch.frombuffer(bytearray(raw), dtype=torch.uint8), ImageReadMode.RGB)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("folder", type=Path, help="an image folder: FOLDER/{train,test}/<class>/<image>")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    files = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    raws = [p.read_bytes() for p in files]
    differ, per_image = 0, {"torchvision.io": [], "Pillow": []}
    for start in range(0, len(raws), 1000):
        chunk = raws[start:start + 1000]
        decoded = {}
        for name, decode in (("torchvision.io", _torchvision), ("Pillow", _decode_rgb)):
            t0 = time.perf_counter()
            decoded[name] = [decode(r) for r in chunk]
            per_image[name].append((time.perf_counter() - t0) / len(chunk))
        differ += sum(not torch.equal(a, b) for a, b in zip(decoded["torchvision.io"], decoded["Pillow"]))
    print(f"{len(files):,} images in {args.folder}; torch {torch.__version__}")
    print(f"images whose pixels differ between torchvision.io and Pillow: {differ}")
    for name, t in per_image.items():
        print(f"{name:<15} {1e6 * statistics.median(t):6.0f} us per image (one thread, median of {len(t)} chunks)")
    loops = {"before: torchvision.io, thread pool": [], "now: Pillow, one thread": []}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for _ in pool.map(_torchvision, raws):
                pass
        t1 = time.perf_counter()
        for _ in map(_decode_rgb, raws):
            pass
        t2 = time.perf_counter()
        loops["before: torchvision.io, thread pool"].append(t1 - t0)
        loops["now: Pillow, one thread"].append(t2 - t1)
    for name, t in loops.items():
        print(f"decoding every file, {name:<36} median {statistics.median(t):.1f} s ({', '.join(f'{x:.1f}' for x in t)})")
    folder = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        read_image_folder(args.folder)
        folder.append(time.perf_counter() - t0)
    print(f"read_image_folder: median {statistics.median(folder):.1f} s over {args.repeats} "
          f"({', '.join(f'{x:.1f}' for x in folder)})")


if __name__ == "__main__":
    main()
