"""The decoded-dataset cache: uint8 tensors on disk, keyed by their source files, checked by a checksum.

A cache file is named by its dataset and a key of the source files (path, size, modification
time), so a changed source gets an entry of its own. It holds a sha256 of its tensors and class
names: a file that does not match it (changed on disk, even at the same size) is never used, and
the user is told it was decoded again. A cache that cannot be written only costs the next run
its decode time.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

TENSORS = ("train_x", "train_y", "test_x", "test_y")
FORMAT = 2  # what a cache file holds; a new one is keyed apart (2: Fashion-MNIST's class names)


def cache_key(files: list[Path]) -> str:
    return hashlib.sha256(
        "\n".join([f"format {FORMAT}"] + [f"{f.resolve()}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files]).encode()
    ).hexdigest()[:16]


def checksum(values: dict[str, Any]) -> str:
    """sha256 of a dataset's tensors and class names: what its cache file is checked against when read."""
    digest = hashlib.sha256()
    for k in TENSORS:
        digest.update(values[k].contiguous().numpy())
    digest.update("\n".join(values["classes"]).encode())
    return digest.hexdigest()


def read_cache(cache_file: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the cached dataset's fields, None), or (None, a note for the user if the file had changed)."""
    if not cache_file.is_file():
        return None, None
    note = None
    try:
        saved = torch.load(cache_file, weights_only=True)
        written = saved.pop("checksum", None)
        if written == checksum(saved):
            return saved, None
        if written is not None:
            note = f"the cached tensors {cache_file} did not match their checksum (changed on disk); decoded again"
    except Exception:
        pass
    cache_file.unlink(missing_ok=True)  # a broken or changed cache is rebuilt, never trusted
    return None, note


def write_cache(cache_file: Path, values: dict[str, Any]) -> None:
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
        torch.save({**values, "checksum": checksum(values)}, tmp)
        os.replace(tmp, cache_file)
    except OSError:
        pass  # a read-only cache only costs the next run its decode time
