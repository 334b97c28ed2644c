"""A trained network as a file to take home: ONNX, TorchScript, its configuration or a checkpoint, checked after writing.

The format follows the file's suffix (``format_for_path``): ``.onnx`` ONNX; ``.ts``,
``.torchscript`` or ``.torchscript.pt`` TorchScript; ``.json`` the point configuration that
``ranksearch train --config`` reads; any other (``.pt``) the checkpoint ``ranksearch train
--save`` has always written (``{"config", "state_dict", "result", "normalization"}``, loadable
with ``torch.load(path, weights_only=True)``). The rules:

- ONNX and TorchScript files are self-contained: loading one needs neither ranksearch nor
  lightlayers, only ``onnxruntime`` or ``torch``. They hold the network in eval mode, fp32, for
  the CPU, whatever precision and memory format it trained in, with a dynamic batch dimension.
- Their metadata (ONNX ``metadata_props``, TorchScript extra files) holds ``config`` (the
  configuration JSON that trains the network again), ``result`` (its measured accuracies,
  parameters and FLOPs), ``normalization`` and ``input`` (JSON, see ``Trained.metadata``).
- ``input="float"`` (the default): the file takes the float32 (N, C, H, W) tensor the network
  trained on, pixels in 0-255 standardised per channel as ``(pixels - mean) / std`` with the
  metadata's ``mean`` and ``std``. ``input="uint8"``: it takes the uint8 pixels themselves and
  standardises them inside the graph.
- After writing, the file is loaded back (ONNX Runtime's CPU execution provider, ``torch.jit.load``,
  or the checkpoint rebuilt from its configuration) and run on a batch of ``CHECK_BATCH`` images;
  the largest absolute difference from the PyTorch network's outputs is reported. Above
  ``TOLERANCE`` the file is not left behind and the export fails. A configuration is checked by
  reading it back. The file appears under its name only once checked.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ranksearch import __version__
from ranksearch.atomic import TEMP_MARK, remove_stale_temporaries, write_atomic
from ranksearch.errors import CannotWrite, RunFailure, UserError
from ranksearch.onnx_io import INPUT, for_export, onnx_bytes, require_onnx, session

FORMATS = ("onnx", "torchscript", "config", "checkpoint")
MODEL_FORMATS = ("onnx", "torchscript", "checkpoint")  # formats that hold trained weights
INPUTS = ("float", "uint8")
SUFFIXES = {".onnx": "onnx", ".ts": "torchscript", ".torchscript": "torchscript", ".torchscript.pt": "torchscript",
            ".json": "config", ".pt": "checkpoint", ".pth": "checkpoint"}
TOLERANCE = 1e-4  # fp32: the exported file computes what PyTorch does, up to rounding
CHECK_BATCH = 8
TRACE_BATCH = 2  # traced on one batch size and checked on another, so a batch size baked into the graph shows


def format_for_path(path: str | Path, default: str) -> str:
    """The format a file's suffix names (``SUFFIXES``), else ``default``."""
    name = Path(path).name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return SUFFIXES[suffix]
    return default


def check_format(format: str, input: str = "float") -> None:
    """A known format and input, with the packages it needs: one-line UserError before any work is spent."""
    if format not in FORMATS:
        raise UserError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if input not in INPUTS:
        raise UserError(f"input must be float (normalised images) or uint8 (raw pixels), got {input!r}")
    if input != "float" and format not in ("onnx", "torchscript"):
        raise UserError(f"input {input} is for ONNX and TorchScript files; a {format} has no input of its own")
    if format == "onnx":
        require_onnx()


@dataclass
class Trained:
    """A trained network and what a deployed file says about it."""

    model: nn.Module
    config: dict[str, Any]  # TrainConfig.to_dict(): trains it again
    result: dict[str, Any]  # accuracies, parameters, FLOPs, epochs, seconds
    mean: list[float] | None  # per channel, in 0-255 pixel units: the network's input is (pixels - mean) / std
    std: list[float] | None  # None: not recorded (a checkpoint written before it was)
    classes: list[str] | None = None  # the class names, in the order of the network's outputs

    @property
    def input_shape(self) -> tuple[int, int, int]:
        model = self.config["model"]
        return model["in_channels"], model["image_size"], model["image_size"]

    def metadata(self, input: str) -> dict[str, str]:
        """The file's metadata: each value a JSON text."""
        c, h, w = self.input_shape
        takes = ("uint8 pixels 0-255, standardised inside the graph" if input == "uint8"
                 else "float32 pixels 0-255 standardised per channel: (pixels - mean) / std")
        return {
            "config": json.dumps(self.config),
            "result": json.dumps(self.result),
            "normalization": json.dumps({"mean": self.mean, "std": self.std, "units": "pixels 0-255",
                                         "rule": "(pixels - mean) / std", "inside_graph": input == "uint8"}),
            "input": json.dumps({"name": INPUT, "shape": ["batch", c, h, w], "layout": "NCHW",
                                 "dtype": "uint8" if input == "uint8" else "float32", "takes": takes}),
            "producer": f"ranksearch {__version__}",
        }

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) pixels -> the float input the network trained on, as the trainer computes it."""
        mean, std = torch.tensor(self.mean).view(1, -1, 1, 1), torch.tensor(self.std).view(1, -1, 1, 1)
        return (pixels.float() - mean) / std


class Pixels(nn.Module):
    """A network that takes uint8 pixels: the trainer's standardisation, then the network."""

    def __init__(self, model: nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x.float() - self.mean) / self.std)


@dataclass
class Written:
    """A file written and checked."""

    path: Path
    format: str
    input: str
    max_abs_diff: float | None  # None for a configuration (nothing to run)
    batch: int
    seconds: float

    def line(self) -> str:
        if self.format == "config":
            return f"wrote the configuration {self.path} (read back: it is what `ranksearch train --config` reads)"
        check = f"max abs difference {self.max_abs_diff:.2e} from PyTorch over a batch of {self.batch} (tolerance {TOLERANCE:g})"
        if self.format == "checkpoint":
            return (f"saved weights, configuration, accuracies and input normalisation to {self.path} "
                    f"(torch.load(weights_only=True)); rebuilt from it: {check}")
        runtime = "ONNX Runtime (CPU)" if self.format == "onnx" else "torch.jit.load"
        takes = "uint8 pixels" if self.input == "uint8" else "float32 images normalised by its metadata's mean/std"
        return (f"wrote {self.format} {self.path} (takes {takes}; configuration and accuracies in its metadata) in "
                f"{self.seconds:.1f}s; loaded back in {runtime}: {check}")

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "input": self.input, "max_abs_diff": self.max_abs_diff,
                "batch": self.batch, "seconds": round(self.seconds, 2)}


def _write_onnx(trained: Trained, network: nn.Module, example: torch.Tensor, part: Path, input: str):
    import onnx

    model = onnx.load_from_string(onnx_bytes(network, example))
    model.doc_string = "exported by ranksearch; metadata_props: config, result, normalization, input"
    for key, value in trained.metadata(input).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    _write_bytes(part, model.SerializeToString())
    run = session(str(part), torch.get_num_threads()).run
    return lambda x: torch.from_numpy(run(None, {INPUT: x.numpy()})[0])


def _write_torchscript(trained: Trained, network: nn.Module, example: torch.Tensor, part: Path, input: str):
    with warnings.catch_warnings(), torch.no_grad():  # torch marks tracing deprecated; it is what a .ts file is
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(network, example, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files=trained.metadata(input))
        _write_bytes(part, buffer.getvalue())
        loaded = torch.jit.load(str(part), map_location="cpu")
    loaded.eval()
    return loaded


def _write_checkpoint(trained: Trained, part: Path):
    state = {k: v.detach().cpu() for k, v in trained.model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"config": trained.config, "state_dict": state, "result": trained.result,
                "normalization": {"mean": trained.mean, "std": trained.std}, "classes": trained.classes}, buffer)
    _write_bytes(part, buffer.getvalue())
    return load_checkpoint(part).model


def _why_not_a_checkpoint(path: str | Path, error: Exception) -> str:
    p = Path(path)
    if not p.is_file():
        return "no such file"
    try:
        with open(p, "rb") as fh:
            start = fh.read(1)
    except OSError as e:  # unreadable (permissions): say so, as the rest of the reasons
        return e.strerror or str(e)
    if not start:
        return "an empty file"
    if start == b"{":
        return (f"it holds JSON (a configuration, as `ranksearch export` writes); train it with `ranksearch train "
                f"--config {path} --save model.pt` and load that")
    if isinstance(error, (pickle.UnpicklingError, EOFError)):
        return "its bytes are not a torch.save file"
    return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"


def _write_bytes(part: Path, data: bytes) -> None:
    """Write through Python's file API: torch's own writer reports a full disk as a RuntimeError, not an OSError."""
    with open(part, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def load_checkpoint(path: str | Path) -> Trained:
    """A checkpoint (``ranksearch train --save``) as the trained network it holds, its recipe's settings applied."""
    from ranksearch.config import TrainConfig
    from ranksearch.trainer import apply_recipe

    try:
        saved = torch.load(path, weights_only=True, map_location="cpu")
        config = saved["config"]
    except Exception as e:  # torch.load raises what the bytes lead it to: pickle, zip, EOF, key errors
        raise UserError(f"{path}: not a `ranksearch train --save` checkpoint ({_why_not_a_checkpoint(path, e)})") from None
    from lightlayers import build_model

    try:  # a moved or edited network source: the checkpoint is fine, its code is not
        cfg = TrainConfig.from_dict(config, str(path))
        model = build_model(cfg.model)
    except (TypeError, ValueError) as e:
        raise UserError(f"{path}: its network does not build ({str(e).removeprefix(f'{path}: ')}); the checkpoint "
                        "rebuilds its network from the code it names, so that code must import as when it was saved") from None
    try:
        apply_recipe(model, cfg.recipe)  # BatchNorm's epsilon, LightLinear's scale: settings the state_dict does not hold
        model.load_state_dict(saved["state_dict"])
    except (ValueError, RuntimeError) as e:
        raise UserError(f"{path}: its weights do not rebuild its network ({str(e).splitlines()[0]})") from None
    norm = saved.get("normalization") or {}  # None in a checkpoint written before it was recorded
    mean, std = norm.get("mean"), norm.get("std")
    classes = saved.get("classes")
    return Trained(model.eval(), saved["config"], saved.get("result") or {}, mean and list(mean), std and list(std),
                   list(classes) if classes else None)


def write(trained: Trained, path: str | Path, format: str, input: str = "float",
          pixels: torch.Tensor | None = None) -> Written:
    """Write ``trained`` to ``path`` as ``format`` and check it (see the module rules); ``pixels``: the uint8
    images to check on (default: ``CHECK_BATCH`` random ones)."""
    check_format(format, input)
    path = Path(path)
    part = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")  # removed by the next writer if we are killed
    started = time.perf_counter()
    if format == "config":
        write_atomic(path, json.dumps(trained.config, indent=2) + "\n")
        return Written(path, format, input, None, 0, time.perf_counter() - started)
    if trained.mean is None or trained.std is None:
        raise UserError(f"{path}: the network's input normalisation is not recorded (a checkpoint from before it was); "
                        "train it again with `ranksearch train --config` to export it")
    if not all(torch.isfinite(v).all() for v in trained.model.state_dict().values() if v.is_floating_point()):
        raise RunFailure(f"{path}: the network's weights hold NaN or infinite values (its training diverged); "
                         "nothing was written: lower the learning rate and train again")
    network = for_export(trained.model)
    if pixels is None:
        pixels = torch.randint(0, 256, (CHECK_BATCH, *trained.input_shape), dtype=torch.uint8,
                               generator=torch.Generator().manual_seed(0))
    pixels = pixels[:CHECK_BATCH].cpu()
    with torch.no_grad():
        expected = network(trained.normalise(pixels))
    if input == "uint8":
        network = Pixels(network, trained.mean, trained.std).eval()
    inputs = pixels if input == "uint8" else trained.normalise(pixels)
    example = inputs[:TRACE_BATCH] if len(inputs) > TRACE_BATCH else inputs
    try:
        if format == "onnx":
            loaded = _write_onnx(trained, network, example, part, input)
        elif format == "torchscript":
            loaded = _write_torchscript(trained, network, example, part, input)
        else:
            loaded = _write_checkpoint(trained, part)
            inputs = trained.normalise(pixels)
        with torch.no_grad():
            difference = (loaded(inputs).float() - expected).abs().max().item()
    except BaseException as e:
        part.unlink(missing_ok=True)
        if isinstance(e, OSError):  # a full disk or a folder that refuses writing: one line, the old file kept
            raise CannotWrite(path, e) from None
        raise
    if not difference <= TOLERANCE:  # NaN fails too
        part.unlink(missing_ok=True)
        raise RunFailure(f"the {format} file does not reproduce the network: max abs difference {difference:.3g} > "
                         f"{TOLERANCE:g} over a batch of {len(pixels)}; nothing was written to {path}")
    try:
        os.replace(part, path)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise CannotWrite(path, e) from None
    remove_stale_temporaries(path.parent, path.name)
    return Written(path, format, input, difference, len(pixels), time.perf_counter() - started)
