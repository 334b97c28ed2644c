"""A thinner reference network started from a trained wider one: filter pruning.

Every convolution is followed by BatchNorm, so a channel's weight in the network is its
BatchNorm scale: each block keeps the channels whose |gamma| is largest (network slimming, Liu et
al., ICCV 2017), the block's output channels by the sum over the two BatchNorms that add into
them (conv2's and the shortcut's). Every tensor is then sliced to the kept channels, in and out,
and the head to the last block's. The result loads into the reference network at those widths.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from lightlayers.spec import ModelSpec

_BN = ("weight", "bias", "running_mean", "running_var")


def state_widths(dense_state: Mapping[str, torch.Tensor]) -> tuple[int, ...]:
    """The block widths of a reference network's state_dict."""
    widths, i = [], 1
    while f"block{i}.bn2.weight" in dense_state:
        widths.append(int(dense_state[f"block{i}.bn2.weight"].shape[0]))
        i += 1
    return tuple(widths)


def _top(score: torch.Tensor, k: int) -> torch.Tensor:
    """The indices of the ``k`` largest scores, in channel order (ties to the lower index)."""
    return torch.sort(torch.topk(score, k, sorted=False).indices).values


def thin_state(spec: ModelSpec, dense_state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``dense_state`` (a trained reference network) cut to ``spec``'s widths; unchanged when they match.

    A width above the state's cannot be inherited: a ValueError."""
    have = state_widths(dense_state)
    if have == tuple(spec.widths):
        return dict(dense_state)
    if len(have) != len(spec.widths) or any(w > h for w, h in zip(spec.widths, have)):
        raise ValueError(f"widths {tuple(spec.widths)} cannot come from widths {have}: only a thinner network inherits")
    out = dict(dense_state)

    def cut(prefix: str, rows: torch.Tensor | None, cols: torch.Tensor | None, bias: bool = True) -> None:
        w = dense_state[f"{prefix}.weight"]
        w = w if rows is None else w[rows]
        out[f"{prefix}.weight"] = (w if cols is None else w[:, cols]).clone()
        if bias and f"{prefix}.bias" in dense_state:
            b = dense_state[f"{prefix}.bias"]
            out[f"{prefix}.bias"] = (b if rows is None else b[rows]).clone()

    def cut_bn(prefix: str, rows: torch.Tensor) -> None:
        for name in _BN:
            out[f"{prefix}.{name}"] = dense_state[f"{prefix}.{name}"][rows].clone()

    previous = None  # the first block reads every input channel
    residual = spec.architecture == "residual"
    for i, width in enumerate(spec.widths, start=1):
        b = f"block{i}"
        inner = _top(dense_state[f"{b}.bn1.weight"].abs(), width)
        score = dense_state[f"{b}.bn2.weight"].abs()
        if residual:
            score = score + dense_state[f"{b}.shortcut_bn.weight"].abs()
        outer = _top(score, width)
        cut(f"{b}.conv1", inner, previous)
        cut_bn(f"{b}.bn1", inner)
        cut(f"{b}.conv2", outer, inner)
        cut_bn(f"{b}.bn2", outer)
        if residual:
            cut(f"{b}.shortcut", outer, previous)
            cut_bn(f"{b}.shortcut_bn", outer)
        previous = outer
    cut("head", None, previous, bias=False)
    return out
