"""A trained model in your code: ``load_model`` reads a ``ranksearch train --save`` checkpoint with one call.

The checkpoint holds everything inference needs: the configuration that builds the network, its
weights, the accuracies it was trained to, the per-channel mean and std (pixel units, 0-255) its
input is normalised by, and the class names. ``load_model(path)`` returns a ``Model``: call it on
uint8 images, (N, C, H, W) as a dataset holds them, for logits, or ``predict`` class indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ranksearch.deploy import load_checkpoint
from ranksearch.errors import UserError


@dataclass
class Model:
    """A trained network with its preprocessing: call it on uint8 images (N, C, H, W) for logits."""

    network: nn.Module
    mean: torch.Tensor  # (1, C, 1, 1), pixel units
    std: torch.Tensor
    input_shape: tuple[int, int, int]
    classes: list[str]
    config: dict[str, Any]
    result: dict[str, Any]

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (or float pixel) images (N, C, H, W) -> the normalised float input the network was trained on."""
        if tuple(images.shape[1:]) != self.input_shape:
            raise ValueError(f"expected images of shape (N, {', '.join(map(str, self.input_shape))}), got {tuple(images.shape)}")
        if images.is_floating_point() and images.numel() and 0 < images.max() <= 1:  # in pixel units that is a black batch
            raise ValueError("float images in 0..1 (as torchvision's ToTensor gives): pass pixel units 0-255, "
                             "such as images * 255, or the uint8 images themselves")
        return (images.float() - self.mean) / self.std

    @property
    def bf16(self) -> bool:
        """Whether the network was trained and evaluated under bf16 autocast (its recipe's precision):
        it computes the same way here, so its predictions are those its accuracies were measured with."""
        return (self.config.get("recipe") or {}).get("precision") == "bf16"

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = self.preprocess(images).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", torch.bfloat16, enabled=self.bf16):
            return self.network(x).float()

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Class indices (``classes`` names them)."""
        return self(images).argmax(1)


def load_model(path: str | Path) -> Model:
    """The model a ``ranksearch train --save`` checkpoint holds, ready for inference (eval mode, CPU)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such checkpoint; write one with `ranksearch train ... --save {p.name}`")
    trained = load_checkpoint(p)
    if trained.mean is None or trained.std is None:
        raise UserError(f"{p}: the checkpoint does not record its input normalisation (written by an older version); "
                        "train it again with --save")
    channels = len(trained.mean)
    return Model(trained.model.eval().to(memory_format=torch.channels_last), torch.tensor(trained.mean).view(1, channels, 1, 1),
                 torch.tensor(trained.std).view(1, channels, 1, 1), trained.input_shape, list(trained.classes or []),
                 trained.config, trained.result)
