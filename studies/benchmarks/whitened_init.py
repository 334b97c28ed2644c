"""Does a data-aware SVD start an inherited network closer to its parent than the weights' own SVD?

An exported point that inherits from a parent (``ranksearch export RUN --trial N -o point.json``)
is built twice: as ``lightlayers.inherit`` builds it (each DeCEF and separable layer from the
per-input-channel SVD of the trained kernel), and with those layers' SVDs taken in the space
whitened by the parent's own inputs to the layer (for input channel c, the rank-r approximation
of W_c minimising E||(W_c - A B) p_c||^2 over the parent's k x k patches p_c of that channel, on
512 training images: SVD of W_c L, with L L^T their second-moment matrix). Each network's
BatchNorm statistics are re-estimated on 1,280 training images; printed is the validation
accuracy before any step, the start a fine-tune gets.

    python studies/benchmarks/whitened_init.py point.json
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from lightlayers import DeCEFConv2d, inherit, parent_network
from lightlayers.network import load_state
from ranksearch.config import TrainConfig
from ranksearch.data import load_splits
from ranksearch.trainer import apply_recipe, evaluate, normalizer, recalibrate_batchnorm


def patch_moments(dense: torch.nn.Module, paths: list[str], images: torch.Tensor, normalize) -> dict[str, torch.Tensor]:
    """Per layer, per input channel, the (s*s, s*s) second moment of the layer's input patches in ``dense``."""
    moments: dict[str, torch.Tensor] = {}

    def hook(path):
        def record(module, args):
            x = args[0].float()
            s, c = module.kernel_size[0], x.shape[1]
            p = F.unfold(x, s, padding=module.padding, stride=module.stride)  # (n, c*s*s, positions)
            p = p.view(p.shape[0], c, s * s, -1).permute(1, 0, 3, 2).reshape(c, -1, s * s).double()
            moments[path] = moments.get(path, 0) + p.mT @ p
        return record

    hooks = [dense.get_submodule(p).register_forward_pre_hook(hook(p)) for p in paths]
    with torch.no_grad():
        for xb in images.split(128):
            dense.eval()(normalize(xb))
    for h in hooks:
        h.remove()
    return moments


@torch.no_grad()
def whiten(layer: DeCEFConv2d, conv: torch.nn.Conv2d, moment: torch.Tensor) -> None:
    f, c, s, _ = conv.weight.shape
    r = layer.rank
    kernel = conv.weight.double().permute(1, 0, 2, 3).reshape(c, f, s * s)
    moment = moment / moment.diagonal(dim1=-2, dim2=-1).mean(-1).clamp_min(1e-12)[:, None, None]
    chol = torch.linalg.cholesky(moment + 1e-4 * torch.eye(s * s, dtype=moment.dtype))
    v = torch.linalg.svd(kernel @ chol, full_matrices=False).Vh[:, :r].mT  # (c, s*s, r)
    filters = torch.linalg.solve_triangular(chol.mT, v, upper=True).mT  # V_r^T L^-1: (c, r, s*s)
    layer.depthwise.weight.copy_(filters.reshape(c * r, 1, s, s))
    layer.pointwise.weight.copy_((kernel @ chol @ v).permute(1, 0, 2).reshape(f, c * r, 1, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("point", help="an exported point that inherits from a parent")
    args = parser.parse_args()
    cfg = TrainConfig.from_dict(json.load(open(args.point)), args.point)
    if cfg.parent is None:
        raise SystemExit(f"{args.point}: no parent; export a point of a run with --start parent")
    _, splits = load_splits(cfg.data)
    state = load_state(cfg.parent)
    normalize = normalizer(splits, cfg.recipe, torch.device("cpu"))
    sample = splits.train_x[torch.randperm(len(splits.train_y), generator=torch.Generator().manual_seed(0))[:1280]]

    def start_accuracy(model: torch.nn.Module) -> float:
        apply_recipe(model, cfg.recipe)
        recalibrate_batchnorm(model, sample, normalize, 64)
        return evaluate(model.eval(), splits.val_x, splits.val_y, normalize, torch.device("cpu"), cfg.recipe.precision == "bf16")[0]

    plain = inherit(cfg.model, state)
    paths = [n for n, m in plain.named_modules() if isinstance(m, DeCEFConv2d)]
    t0 = time.perf_counter()
    dense = parent_network(cfg.model, state)
    moments = patch_moments(dense, paths, sample[:512], normalize)
    white = inherit(cfg.model, state)
    for p in paths:
        whiten(white.get_submodule(p), dense.get_submodule(p), moments[p])
    seconds = time.perf_counter() - t0
    print(f"{len(paths)} DeCEF/separable layers, whitened in {seconds:.1f} s")
    print(f"validation before any step: weights' SVD {start_accuracy(plain):.4f}, whitened {start_accuracy(white):.4f}")


if __name__ == "__main__":
    main()
