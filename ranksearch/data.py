"""Datasets -> uint8 tensors (decoded once, cached on disk) -> stratified train/val/test splits.

Formats read: torchvision's layouts for MNIST and Fashion-MNIST (IDX files, plain or .gz) and
CIFAR-10/100 (python pickles), and any image-folder tree ``ROOT/{train,test}/<class>/<image>``.
The decoded tensors are cached (``ranksearch.tensor_cache``, checked by a checksum).
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ranksearch.config import DataConfig
from ranksearch.errors import UserError
from ranksearch.tensor_cache import cache_key, read_cache, write_cache

REFERENCE_NAMES = ("mnist", "fashion-mnist", "cifar10", "cifar100")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}

_IDX = {
    "mnist": ("MNIST", "MNIST/raw"),
    "fashion-mnist": ("FashionMNIST", "FashionMNIST/raw"),
}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_CIFAR = {
    "cifar10": ("CIFAR10", "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels"),
    "cifar100": ("CIFAR100", "cifar-100-python", ["train"], ["test"], b"fine_labels"),
}


@dataclass
class ImageDataset:
    """A whole dataset as uint8 images (N, C, H, W) and int64 labels."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    notes: list[str] = field(default_factory=list)  # what reading changed (images resized), said once to the user

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return self.train_x.shape[1]

    @property
    def image_size(self) -> int:
        return self.train_x.shape[2]


@dataclass
class Splits:
    """What a trainer sees: train and validation (both from the training set) and test."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int

    @property
    def in_channels(self) -> int:
        return self.train_x.shape[1]

    @property
    def image_size(self) -> int:
        return self.train_x.shape[2]


def default_cache_dir() -> Path:
    """``$RANKSEARCH_CACHE``, else ``$XDG_CACHE_HOME/ranksearch``, else ``~/.cache/ranksearch``."""
    if os.environ.get("RANKSEARCH_CACHE"):
        return Path(os.environ["RANKSEARCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ranksearch"


def default_data_dir() -> Path:
    return default_cache_dir() / "datasets"


SLOW_DECODE_FILES = 1000  # an image folder this large takes seconds to decode: say so before (IDX files are quick)


def load_dataset(dataset: str, data_dir: str | Path | None = None, cache_dir: Path | None = None,
                 say: Callable[[str], None] | None = None) -> ImageDataset:
    """Read ``dataset`` (a reference name or an image-folder path), from the tensor cache when it can;
    ``say`` hears, before a slow decode, that one is starting."""
    cache_dir = cache_dir or default_cache_dir() / "tensors"
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    if dataset in REFERENCE_NAMES:
        files, reader, source = _reference_source(dataset, data_dir)
    elif Path(dataset).is_dir():
        root = Path(dataset)
        files, reader, source = _image_folder_files(root), lambda: read_image_folder(root), root.name
    else:
        raise UserError(
            f"unknown dataset {dataset!r}: use one of {', '.join(REFERENCE_NAMES)}, "
            "or the path of a folder with train/ and test/ subfolders of class folders"
        )
    cache_file = cache_dir / f"{source}-{cache_key(files)}.pt"  # cifar10 read from cifar10-jpeg/ shares its folder's
    saved, note = read_cache(cache_file)
    if saved is not None:
        return ImageDataset(**{**saved, "name": dataset})
    if say is not None and len(files) >= SLOW_DECODE_FILES:
        say(f"decoding {len(files):,} images into tensors, once (cached in {cache_dir})")
    data = reader()
    data.name = dataset
    write_cache(cache_file, vars(data))
    if note is not None:
        data.notes.append(note)  # said this once, not saved with the cache
    return data


def _reference_source(dataset: str, data_dir: Path):
    if dataset in _IDX:
        tv_name, sub = _IDX[dataset]
        folder = data_dir / sub
        names = [n for pair in _IDX_FILES.values() for n in pair]
        found = [_idx_path(folder, n) for n in names]
        missing = [n for n, f in zip(names, found) if f is None]
        if missing:
            raise UserError(
                f"{dataset}: not found in {folder}: {', '.join(missing)} (or .gz; {len(missing)} of its {len(names)} files); "
                f"put them there or pass --data-dir DIR where DIR/{sub} holds them "
                f"(torchvision.datasets.{tv_name}(DIR, download=True) fetches them)"
            )
        return found, lambda: read_idx_dataset(folder, dataset), dataset
    tv_name, sub, train_files, test_files, _ = _CIFAR[dataset]
    folder = data_dir / sub
    names = train_files + test_files
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        jpeg = data_dir / f"{dataset}-jpeg"
        if (jpeg / "train").is_dir() and (jpeg / "test").is_dir():
            return _image_folder_files(jpeg), lambda: read_image_folder(jpeg), jpeg.name
        raise UserError(
            f"{dataset}: not found in {folder}: {', '.join(missing)} ({len(missing)} of its {len(names)} files) "
            f"(torchvision's layout) or an image-folder tree in {data_dir / (dataset + '-jpeg')}; "
            f"put them there or pass --data-dir DIR (torchvision.datasets.{tv_name}(DIR, download=True) fetches them)"
        )
    return [folder / n for n in names], lambda: read_cifar(folder, dataset), dataset


def _idx_path(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (uint8 data, any number of dimensions), plain or gzipped."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserError(f"{path}: not an IDX file of unsigned bytes (bad header)")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(dims)):
        raise UserError(f"{path}: truncated or corrupt IDX file ({len(raw) - offset} bytes for shape {dims})")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def read_idx_dataset(folder: Path, dataset: str = "mnist") -> ImageDataset:
    parts = {}
    for split, (images, labels) in _IDX_FILES.items():
        x = read_idx(_idx_path(folder, images))
        y = read_idx(_idx_path(folder, labels))
        if len(x) != len(y):
            raise UserError(f"{folder}: {split} has {len(x)} images but {len(y)} labels")
        parts[split] = (torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64)))
    classes = [str(i) for i in range(int(max(parts["train"][1].max(), parts["test"][1].max())) + 1)]
    if dataset == "fashion-mnist":  # IDX files hold no names; MNIST's are its digits
        from torchvision.datasets import FashionMNIST

        classes = FashionMNIST.classes if len(FashionMNIST.classes) == len(classes) else classes
    return ImageDataset(folder.name, *parts["train"], *parts["test"], classes)


def read_cifar(folder: Path, dataset: str) -> ImageDataset:
    """CIFAR-10/100 in torchvision's python-pickle layout."""
    _, _, train_files, test_files, label_key = _CIFAR[dataset]

    def read(names):
        xs, ys = [], []
        for n in names:
            try:
                with open(folder / n, "rb") as fh:
                    batch = pickle.load(fh, encoding="bytes")
                xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                ys.append(np.asarray(batch[label_key], dtype=np.int64))
            except Exception as e:
                raise UserError(f"{folder / n}: unreadable CIFAR batch ({type(e).__name__}: {e})") from None
        return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))

    meta_name = "batches.meta" if dataset == "cifar10" else "meta"
    meta_key = b"label_names" if dataset == "cifar10" else b"fine_label_names"
    train, test = read(train_files), read(test_files)
    classes = [str(i) for i in range(int(train[1].max()) + 1)]
    try:
        with open(folder / meta_name, "rb") as fh:
            classes = [c.decode() for c in pickle.load(fh, encoding="bytes")[meta_key]]
    except Exception:  # class names are a nicety: a missing or damaged meta file falls back to numbers
        pass
    return ImageDataset(dataset, *train, *test, classes)


def _image_folder_files(root: Path) -> list[Path]:
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise UserError(f"{root}: expected subfolders train/ and test/, each holding one folder per class")
    return sorted(
        p for split in ("train", "test") for p in (root / split).rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _decode_rgb(raw: bytes) -> torch.Tensor:
    """An image file's bytes as 3 x H x W uint8, as a viewer shows it (its first frame), by Pillow: torchvision 0.29
    deprecates ``torchvision.io``'s decoding for removal (the same pixels: RESULTS.md, "Decoding image folders")."""
    with Image.open(io.BytesIO(raw)) as im:
        if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):  # 16 bits of grey, scaled to 8 as a viewer shows it
            grey = ((np.asarray(im, dtype=np.int64).clip(0, 65535) * 255 + 32767) // 65535).astype(np.uint8)
            return torch.from_numpy(grey).expand(3, *grey.shape).contiguous()
        rgb = im if im.mode == "RGB" else im.convert("RGB")
        pixels = bytearray(rgb.tobytes())
    return torch.frombuffer(pixels, dtype=torch.uint8).view(rgb.height, rgb.width, 3).permute(2, 0, 1)


def read_image_folder(root: Path) -> ImageDataset:
    """Decode ``root/{train,test}/<class>/*`` to uint8 tensors.

    Classes are the sorted folder names of ``train/``; a class folder without images is refused.
    Every image is read as a person sees it: a palette, CMYK or 16-bit image through its RGB
    conversion (never its palette indices), the first frame of an animation. All are brought to
    the most common size among (up to) the first 200 training images, bilinear and antialiased
    (``notes`` say how many, from what); all stay RGB if any is in colour, else become grey.
    Each image is decoded straight into one preallocated tensor per split: holding every small
    decoded tensor first costs memory the allocator never gives back (DECISIONS.md).
    """
    classes = sorted(d.name for d in (root / "train").iterdir() if d.is_dir())
    if not classes:
        raise UserError(f"{root / 'train'}: no class folders found")
    index = {c: i for i, c in enumerate(classes)}

    def decode(path: Path) -> torch.Tensor:
        raw = path.read_bytes()
        try:
            return _decode_rgb(raw)
        except Exception as e:
            first = (str(e).strip().splitlines() or [""])[0]  # Pillow's "cannot identify ..." names a BytesIO: no help
            reason = "an empty file" if not raw else first if first and "cannot identify" not in first else "damaged, or not an image"
            raise UserError(f"{path}: cannot decode image ({reason}); remove or replace the file") from None

    listing = {}
    for split in ("train", "test"):
        files, labels = [], []
        for c in sorted(d.name for d in (root / split).iterdir() if d.is_dir()):
            if c not in index:
                raise UserError(f"{root / split / c}: class {c!r} is not among train/'s classes")
            found = sorted(p for p in (root / split / c).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise UserError(f"{root / split / c}: a class folder with no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                                "put its images in it or remove the folder")
            files += found
            labels += [index[c]] * len(found)
        if not files:
            raise UserError(f"{root / split}: no images found")
        listing[split] = (files, torch.tensor(labels, dtype=torch.int64))

    sample = listing["train"][0][:: max(1, len(listing["train"][0]) // 200)][:200]
    size = Counter(tuple(decode(f).shape[1:]) for f in sample).most_common(1)[0][0]
    resized: Counter = Counter()
    colour = False
    out = {}
    for split, (files, labels) in listing.items():  # one thread: Pillow holds the GIL for most of an image this small
        x = torch.empty(len(files), 3, *size, dtype=torch.uint8)
        for i, img in enumerate(map(decode, files)):
            colour = colour or not (torch.equal(img[0], img[1]) and torch.equal(img[1], img[2]))
            if tuple(img.shape[1:]) != size:
                resized[tuple(img.shape[1:])] += 1
                img = F.interpolate(img[None].float(), size=size, mode="bilinear", antialias=True)[0].round().clamp(0, 255)
            x[i] = img
        out[split] = (x, labels)
    if not colour:  # every image grey: keep one of the three identical channels
        out = {split: (x[:, :1].clone(), labels) for split, (x, labels) in out.items()}
    notes = []
    if resized:
        seen = ", ".join(f"{h}x{w}" for (h, w), _ in resized.most_common(3))
        notes.append(f"{sum(resized.values()):,} images of other sizes ({seen}) were resized to the common {size[0]}x{size[1]}")
    return ImageDataset(root.name, *out["train"], *out["test"], classes, notes)


def _quotas(counts: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` split over classes in proportion to ``counts`` (largest-remainder rounding)."""
    exact = counts.double() * n / int(counts.sum())
    quota = exact.floor().long()
    short = n - int(quota.sum())
    quota[torch.argsort(exact - quota, descending=True, stable=True)[:short]] += 1
    return quota


def stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (rest, held_out): ``fraction`` of each class held out, chosen by ``seed``.

    ``round(fraction * len(labels))`` images in all, each class within one image of its share.
    """
    gen = torch.Generator().manual_seed(seed)
    classes, counts = torch.unique(labels, return_counts=True)
    rest, held = [], []
    for c, n_held in zip(classes, _quotas(counts, int(round(len(labels) * fraction)))):
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        held.append(idx[: int(n_held)])
        rest.append(idx[int(n_held):])
    return torch.cat(rest).sort().values, torch.cat(held).sort().values


def stratified_subset(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Exactly ``n`` indices with class proportions kept (largest-remainder rounding)."""
    if n >= len(labels):
        return torch.arange(len(labels))
    gen = torch.Generator().manual_seed(seed + 1)
    classes, counts = torch.unique(labels, return_counts=True)
    quota = _quotas(counts, n)
    chosen = []
    for c, q in zip(classes, quota):
        idx = torch.nonzero(labels == c).flatten()
        chosen.append(idx[torch.randperm(len(idx), generator=gen)[: int(q)]])
    return torch.cat(chosen).sort().values


def make_splits(data: ImageDataset, cfg: DataConfig) -> Splits:
    """Validation held out of the training set; optional stratified training subset of the rest."""
    train_idx, val_idx = stratified_split(data.train_y, cfg.val_fraction, cfg.split_seed)
    if len(val_idx) < 1 or len(train_idx) < data.num_classes:
        raise UserError(
            f"--val-fraction {cfg.val_fraction} leaves {len(train_idx):,} training and {len(val_idx):,} validation images "
            f"for {data.num_classes} classes; choose a fraction that keeps images of every class on both sides (default 0.1)"
        )
    if cfg.train_subset is not None and cfg.train_subset < data.num_classes:
        raise UserError(
            f"--train-subset {cfg.train_subset:,} is fewer images than the {data.num_classes} classes, so some classes "
            f"would have none to learn from; give at least {data.num_classes} (many per class to learn anything)"
        )
    if cfg.train_subset is not None and cfg.train_subset > len(train_idx):
        raise UserError(
            f"--train-subset {cfg.train_subset:,} is more than the {len(train_idx):,} training images left after "
            f"validation; give at most {len(train_idx):,}, or drop it to train on all of them"
        )
    if cfg.train_subset is not None:
        train_idx = train_idx[stratified_subset(data.train_y[train_idx], cfg.train_subset, cfg.split_seed)]
    return Splits(
        data.train_x[train_idx], data.train_y[train_idx],
        data.train_x[val_idx], data.train_y[val_idx],
        data.test_x, data.test_y, data.num_classes,
    )


def load_splits(cfg: DataConfig, say: Callable[[str], None] | None = None) -> tuple[ImageDataset, Splits]:
    data = load_dataset(cfg.dataset, cfg.data_dir, say=say)
    return data, make_splits(data, cfg)
