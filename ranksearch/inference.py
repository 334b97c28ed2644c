"""A trained model in your code: the checkpoint ``ranksearch train --save`` writes, and loading it with one call.

The checkpoint (``torch.load(path, weights_only=True)`` reads it) holds everything inference
needs: the configuration that builds the network (``config``), its weights (``state_dict``), the
accuracies it was trained to (``result``), and ``preprocess``: the per-channel mean and std, in
pixel units (0-255), the images are normalised by, the input shape and the class names.
``load_model(path)`` returns a ``Model``: call it on uint8 images, (N, C, H, W) as the dataset
holds them, for logits, or ``predict`` them for class indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lightlayers import build_model

from ranksearch.config import TrainConfig
from ranksearch.data import Splits
from ranksearch.errors import UserError
from ranksearch.outputs import write_atomic
from ranksearch.trainer import input_statistics


def save_checkpoint(path: str | Path, cfg: TrainConfig, model: nn.Module, result: dict[str, Any], splits: Splits,
                    classes: list[str]) -> Path:
    """Write the checkpoint atomically: configuration, weights, accuracies and preprocessing."""
    import io

    mean, std = input_statistics(splits, cfg.recipe)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if not all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise UserError("the trained weights hold NaN or infinite values: the training diverged, so nothing was saved; "
                        "lower the learning rate (--config recipe lr) and train again")
    preprocess = {"mean": mean, "std": std, "input_shape": [splits.in_channels, splits.image_size, splits.image_size],
                  "classes": list(classes)}
    buffer = io.BytesIO()
    torch.save({"config": cfg.to_dict(), "state_dict": state, "result": result, "preprocess": preprocess}, buffer)
    return write_atomic(path, buffer.getvalue())  # a full disk or a read-only folder: one line, the old file kept


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
        return (images.float() - self.mean) / self.std

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(self.preprocess(images))

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Class indices (``classes`` names them)."""
        return self(images).argmax(1)


def load_model(path: str | Path) -> Model:
    """The model a ``ranksearch train --save`` checkpoint holds, ready for inference (eval mode, CPU)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such checkpoint; write one with `ranksearch train ... --save {p.name}`")
    try:
        saved = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"{p}: not a ranksearch checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(saved, dict) or not {"config", "state_dict", "preprocess"} <= set(saved):
        raise UserError(f"{p}: not a ranksearch checkpoint with its preprocessing (written by an older version? "
                        "train it again with --save)")
    cfg = TrainConfig.from_dict(saved["config"], str(p))
    network = build_model({**saved["config"]["model"], "weights": None} if "source" in saved["config"]["model"]
                          else saved["config"]["model"])
    network.load_state_dict(saved["state_dict"])
    pre = saved["preprocess"]
    channels = len(pre["mean"])
    return Model(network.eval(), torch.tensor(pre["mean"]).view(1, channels, 1, 1),
                 torch.tensor(pre["std"]).view(1, channels, 1, 1), tuple(pre["input_shape"]), list(pre["classes"]),
                 cfg.to_dict(), saved.get("result", {}))
