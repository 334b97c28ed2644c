"""Training throughput on CIFAR-10: the LightLayers paper's way of training vs ``ranksearch train``.

Two models, the paper's CIFAR-10 Conv2D network (``reference_spec("cifar10", "conv")``) and
its Light k=3 network (``reference_spec("cifar10", "light", 3)``), both built with
``lightlayers.build_model``, are trained on the same JPEG image-folder tree in one process:

(a) the paper's way, as a plain PyTorch loop: ``torchvision.datasets.ImageFolder`` with
    ToTensor + Normalize, a ``DataLoader`` with batch 64, shuffle and ``num_workers=0`` (one
    process decodes and trains, as the paper's Keras pipeline does), Adam at lr 1e-4 and
    cross-entropy. It is timed end to end, JPEG decoding included: that is what a user waits
    for. The first batches are a warm-up and are not timed.
(b) ``ranksearch.trainer.train`` with its defaults (``make_recipe("fast", "cifar10")`` on the CPU:
    batch 64, channels_last, AdamW, one-cycle, crop+flip augmentation, label smoothing) on data
    from ``ranksearch.data.load_dataset``, which decodes the JPEGs once and caches them as uint8.
    The figure is the trainer's own ``images_per_second`` (training steps only; validation
    after each epoch is not counted). The one-time decode and a cached load are timed and
    printed apart.

Each side is measured ``--repeats`` times, interleaved, and the median counts: on a shared
2-core VM single runs vary by 15 % or more. Both figures are training images per second;
their ratio (b / a) is printed per model and,
as the last line, ``speedup:`` is the lower of the two ratios.

Data: ``cifar10-jpeg`` inside ``--data PATH``, else ``$RANKSEARCH_DATASETS``, else the shared
datasets folder next to the repository; if none holds it, 5,000 + 1,000 random 32x32 RGB
images in 10 classes are written as a JPEG image-folder tree in a temporary folder, so both
paths still read files.

Results on this machine, with the conditions of each run: RESULTS.md beside this file.

Run: python studies/benchmarks/throughput.py [--images N] [--data PATH]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from lightlayers import ModelSpec, build_model, reference_spec
from ranksearch.config import DataConfig, make_recipe
from ranksearch.data import ImageDataset, load_dataset, make_splits
from ranksearch.trainer import MIN_STEPS_PER_EPOCH, batch_size_for, train

REPO = Path(__file__).resolve().parents[2]
PAPER_BATCH = 64
PAPER_LR = 1e-4
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
MODELS: dict[str, ModelSpec] = {
    "Conv2D": reference_spec("cifar10", "conv"),
    "Light k=3": reference_spec("cifar10", "light", 3),
}


def find_cifar(data: str | None) -> Path | None:
    """The cifar10-jpeg tree in ``data`` (or ``data`` itself), $RANKSEARCH_DATASETS, or ../shared/datasets."""
    base = Path(data or os.environ.get("RANKSEARCH_DATASETS") or REPO.parent / "shared" / "datasets")
    for root in (base / "cifar10-jpeg", base):
        if (root / "train").is_dir() and (root / "test").is_dir():
            return root
    return None


def write_random_tree(root: Path, n_train: int = 5000, n_test: int = 1000, classes: int = 10) -> Path:
    """CIFAR-shaped random images as ``root/{train,test}/class<i>/<n>.jpg``."""
    gen = torch.Generator().manual_seed(0)
    for split, n in (("train", n_train), ("test", n_test)):
        images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=gen)
        for i, image in enumerate(images):
            folder = root / split / f"class{i % classes}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:05d}.jpg", quality=75)
    return root


def paper_loop(spec: ModelSpec, train_dir: Path, images: int, workers: int, warmup_batches: int = 5) -> tuple[float, int]:
    """Images/s of the paper-style loop over ``images`` images after ``warmup_batches``, data loading included."""
    torch.manual_seed(0)
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(CIFAR_MEAN, CIFAR_STD)])
    loader = DataLoader(
        datasets.ImageFolder(str(train_dir), transform=tf),
        batch_size=PAPER_BATCH, shuffle=True, num_workers=workers, persistent_workers=workers > 0,
    )
    model = build_model(spec).train()
    opt = torch.optim.Adam(model.parameters(), lr=PAPER_LR)
    loss_fn = nn.CrossEntropyLoss()
    batches, seen, started = 0, 0, 0.0
    while True:
        for x, y in loader:
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            batches += 1
            seen += len(y)
            if batches == warmup_batches:
                seen, started = 0, time.perf_counter()
            elif batches > warmup_batches and seen >= images:
                return seen / (time.perf_counter() - started), seen


def ranksearch_trainer(spec: ModelSpec, data: ImageDataset, dataset: str, images: int) -> tuple[float, int, int, int]:
    """The trainer's own images/s over at least ``images`` training images with its default recipe.

    The training set is cut (stratified) to ``images`` when that keeps the recipe's full batch,
    which needs MIN_STEPS_PER_EPOCH batches per epoch; more epochs run if one is not enough.
    Returns (images/s, images trained, batch, epochs).
    """
    recipe = make_recipe("fast", "cifar10")
    n_train = len(make_splits(data, DataConfig(dataset)).train_y)
    subset = min(n_train, max(images, MIN_STEPS_PER_EPOCH * recipe.batch_size))
    splits = make_splits(data, DataConfig(dataset, train_subset=subset if subset < n_train else None))
    batch = batch_size_for(recipe, subset)
    per_epoch = subset // batch * batch
    epochs = math.ceil(images / per_epoch)
    warm = build_model(spec)
    for _ in range(2):  # one-time kernel setup at the measured batch shape, not timed
        warm(torch.randn(batch, *splits.train_x.shape[1:])).sum().backward()
    result = train(spec, splits, make_recipe("fast", "cifar10", epochs=epochs), seed=0, device="cpu", evaluate_test=False)
    return result.images_per_second, epochs * per_epoch, batch, epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", help="folder holding cifar10-jpeg (default: $RANKSEARCH_DATASETS, else ../shared/datasets)")
    parser.add_argument("--images", type=int, default=5000, help="images timed per paper-loop measurement; the trainer runs at least 50 full batches (default 5000)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved measurements per side and model; the median counts (default 3)")
    parser.add_argument("--extra-workers", type=int, default=0, help="also time the paper loop with this many DataLoader workers (0: skip)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        root = find_cifar(args.data)
        source = str(root) if root else "random CIFAR-shaped JPEGs (cifar10-jpeg not found)"
        if root is None:
            root = write_random_tree(Path(tmp) / "random-cifar")
        print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {torch.get_num_threads()} threads, "
              f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), device cpu")
        print(f"data: {source}")
        print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

        cache = Path(tmp) / "cache"
        t0 = time.perf_counter()
        data = load_dataset(str(root), cache_dir=cache)
        decode_s = time.perf_counter() - t0
        n_files = len(data.train_y) + len(data.test_y)
        t0 = time.perf_counter()
        data = load_dataset(str(root), cache_dir=cache)
        cached_s = time.perf_counter() - t0
        print(f"ranksearch load_dataset: one-time decode of {n_files:,} images + cache write {decode_s:.1f}s; "
              f"later loads from the uint8 cache {cached_s:.1f}s (neither counted below)")

        ratios = []
        for name, spec in MODELS.items():
            papers, ours_runs = [], []
            for _ in range(args.repeats):  # interleaved, so a passing load spike hits both sides
                papers.append(paper_loop(spec, root / "train", args.images, workers=0))
                ours_runs.append(ranksearch_trainer(spec, data, str(root), args.images))
            paper, paper_n = statistics.median(p for p, _ in papers), papers[0][1]
            ours, ours_n, batch, epochs = statistics.median(o[0] for o in ours_runs), *ours_runs[0][1:]
            ratios.append(ours / paper)
            label_a = f"(a) paper loop: ImageFolder + DataLoader, batch {PAPER_BATCH}, num_workers=0"
            label_b = f"(b) ranksearch train: fast recipe, batch {batch}"
            runs_a = " ".join(f"{p:.0f}" for p, _ in papers)
            runs_b = " ".join(f"{o[0]:.0f}" for o in ours_runs)
            print(f"{name:<10} {label_a:<70} {paper:8.1f} images/s (median of {runs_a}; {paper_n:,} images each)")
            print(f"{name:<10} {label_b:<70} {ours:8.1f} images/s (median of {runs_b}; {ours_n:,} images, "
                  f"{epochs} epoch{'s' * (epochs > 1)} each)")
            print(f"{name:<10} ratio b/a: {ours / paper:.2f}x")
            if args.extra_workers > 0:
                extra, extra_n = paper_loop(spec, root / "train", args.images, workers=args.extra_workers)
                print(f"{name:<10} extra: (a) with num_workers={args.extra_workers}: {extra:.1f} images/s "
                      f"({extra_n:,} images); b over it: {ours / extra:.2f}x")
        print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        print(f"speedup: {min(ratios):.2f}")


if __name__ == "__main__":
    main()
