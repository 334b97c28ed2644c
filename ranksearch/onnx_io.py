"""ONNX in and out: a network as an ONNX graph, that graph in ONNX Runtime, and the one line when they are missing.

``onnx`` and ``onnxruntime`` are optional (``pip install 'ranksearch[deploy]'``): nothing here
imports them until a function needs them, and ``missing_packages`` says in one line what to
install. The rules:

- A network is exported in eval mode, fp32, on the CPU, its batch dimension dynamic, opset
  ``OPSET``, weights inside the file (no external data), input ``input`` and output ``logits``.
- The exporter is torch's TorchScript-based one (``dynamo=False``): it traces these networks
  (every layer family, and a user's network without data-dependent control flow) exactly and
  far faster than the torch.export-based one, which matters for a latency measured before
  every candidate trains. torch marks it deprecated; where it is gone or cannot trace a
  network, the torch.export-based exporter (``dynamo=True``, which needs ``onnxscript``) is used
  instead, and when both fail the error says why each did.
- ONNX Runtime runs the CPU execution provider with ``threads`` intra-op threads, one inter-op
  thread, sequential execution and every graph optimisation (constant folding folds DeCEF's
  dense kernel, rebuilt from its factors at each call in PyTorch, into one weight).
"""

from __future__ import annotations

import copy
import importlib
import io
import warnings

import torch
from torch import nn

from ranksearch.errors import UserError

OPSET = 18
INPUT, OUTPUT = "input", "logits"
INSTALL = "pip install 'ranksearch[deploy]'"


def _imports(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False


def missing_packages() -> str | None:
    """One line saying which of onnx and onnxruntime is missing and how to install them, or None."""
    missing = [name for name in ("onnx", "onnxruntime") if not _imports(name)]
    if not missing:
        return None
    return f"ONNX needs the {' and '.join(missing)} package{'s' if len(missing) > 1 else ''}: {INSTALL}"


def require_onnx() -> None:
    """Raise the one-line UserError when onnx or onnxruntime is missing, before any work is spent."""
    missing = missing_packages()
    if missing is not None:
        raise UserError(missing)


def for_export(model: nn.Module) -> nn.Module:
    """A copy of ``model`` as it is exported: eval mode, fp32, on the CPU, contiguous (not channels_last) weights."""
    model = copy.deepcopy(model).float().cpu().eval()
    return model.to(memory_format=torch.contiguous_format)


def _torchscript_exporter(model: nn.Module, example: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # its deprecation notice, once per export: the module docstring says why it is used
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(model, (example,), buffer, dynamo=False, opset_version=OPSET, input_names=[INPUT],
                          output_names=[OUTPUT], dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
    return buffer.getvalue()


def _dynamo_exporter(model: nn.Module, example: torch.Tensor) -> bytes:
    program = torch.onnx.export(model, (example,), dynamo=True, opset_version=OPSET, input_names=[INPUT],
                                output_names=[OUTPUT], dynamic_shapes=({0: torch.export.Dim("batch")},),
                                external_data=False, verbose=False, report=False)
    return program.model_proto.SerializeToString()


def onnx_bytes(model: nn.Module, example: torch.Tensor) -> bytes:
    """``model`` (already ``for_export``) as a serialised ONNX model, traced on ``example`` (a batch of >= 2 inputs)."""
    errors = []
    for name, exporter in (("TorchScript-based", _torchscript_exporter), ("torch.export-based", _dynamo_exporter)):
        try:
            with torch.no_grad():
                return exporter(model, example)
        except Exception as e:  # the next exporter, then one line naming both failures
            errors.append(f"the {name} exporter: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}")
    raise UserError(f"the network does not export to ONNX ({'; '.join(errors)}); a network with data-dependent "
                    "control flow may not trace: export --format torchscript, or simplify its forward()")


def session(model: bytes | str, threads: int):
    """An ONNX Runtime session on the CPU execution provider with ``threads`` intra-op threads (see the module rules)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: its warnings about unused initialisers are no news to a user
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
