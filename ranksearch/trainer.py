"""Train one model spec under a recipe: the whole run, readable in one sitting. Never imports optuna.

Speed comes from a few deliberate choices: the data lives on the device as uint8 and is
normalised and augmented there in whole batches (no DataLoader, no per-image Python);
channels_last where the network is wide enough for it to pay, NCHW where it is thin; bf16
autocast where the hardware computes in bf16 natively (the recipe's ``precision``); a
one-cycle schedule over a batch sized for the device (see ``make_recipe``).
Why each, with its figure: DECISIONS.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lightlayers import LightConv2d, LightLinear, ModelSpec, build_model, inherit, parent_network

from ranksearch.config import Recipe
from ranksearch.data import Splits
from ranksearch.errors import Diverged, UserError

EpochCallback = Callable[[int, float], None]
"""Called after every epoch with (epoch number from 1, validation accuracy); may raise to stop."""
StepCallback = Callable[[int, int, int], None]
"""Called after every training step with (epoch, step from 1, steps per epoch); keep it cheap."""
CheckCallback = Callable[[float, float], None]
"""Called at each check within an epoch with (epochs trained, a fraction; validation accuracy); may raise to stop."""

# Evaluation batch per device (DECISIONS.md).
EVAL_BATCH = {"cuda": 2048, "cpu": 256}
MIN_STEPS_PER_EPOCH = 50
RECALIBRATION_BATCHES = 20
DISTILL_TEMPERATURE = 4.0  # Hinton et al. 2015's softening; the loss is scaled by its square to keep gradients level
CHANNELS_LAST_WIDTH = 64  # the widest convolution from which channels_last trains faster on the CPU (DECISIONS.md)


@dataclass
class TrainResult:
    val_accuracy: float
    test_accuracy: float | None
    val_curve: list[float]
    val_checks: dict[float, float]
    epochs_run: int
    seconds: float
    images_per_second: float
    model: nn.Module = field(repr=False)
    lr_curve: list[float] = field(default_factory=list)  # the learning rate at the end of each epoch


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise UserError(f"--device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    return torch.device(device)


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images (N, C, H, W), in [0, 1] units, in chunks."""
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    for chunk in x.split(4096):
        c = chunk.double().div_(255)
        total += c.sum(dim=(0, 2, 3)).cpu()
        total_sq += c.square().sum(dim=(0, 2, 3)).cpu()
    n = x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / n
    std = (total_sq / n - mean.square()).clamp_min(1e-12).sqrt()
    return mean.float(), std.float()


def random_crop_flip(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Random translation by up to ``pad`` pixels (zero fill) and horizontal flip, per image, in
    ``x``'s memory format: the gathers return NCHW, and a channels_last batch must stay so, or a
    first layer whose kernel is built at each call (DeCEF's dense path) runs NCHW."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), device=x.device, generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), device=x.device, generator=gen)
    rows = (dy[:, None] + torch.arange(h, device=x.device)).view(n, 1, h, 1).expand(-1, x.shape[1], -1, w + 2 * pad)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w, device=x.device)).view(n, 1, 1, w).expand(-1, x.shape[1], h, -1)
    out = out.gather(3, cols)
    flip = torch.rand(n, device=x.device, generator=gen) < 0.5
    out = torch.where(flip.view(n, 1, 1, 1), out.flip(3), out)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        out = out.contiguous(memory_format=torch.channels_last)
    return out


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, normalize, device: torch.device,
             bf16: bool = False) -> tuple[float, float]:
    """(top-1 accuracy, mean cross-entropy) in eval mode, on uint8 images already on ``device``.

    Always channels_last, whatever layout the network trains in: at the evaluation batch it is
    the faster layout at every width measured, thin too (RESULTS.md, "Memory format by width").
    The weights are converted for the pass and back (exact copies), so training is unchanged.
    """
    model.eval().to(memory_format=torch.channels_last)
    correct, loss = 0, 0.0
    try:
        with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, enabled=bf16):
            batch = EVAL_BATCH[device.type]
            for xb, yb in zip(x.split(batch), y.split(batch)):
                logits = model(normalize(xb).contiguous(memory_format=torch.channels_last))
                correct += (logits.argmax(1) == yb).sum().item()
                loss += F.cross_entropy(logits.float(), yb, reduction="sum").item()
    finally:
        model.train().to(memory_format=memory_format(model, device))
    return correct / max(1, len(y)), loss / max(1, len(y))


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, normalize, device: torch.device, bf16: bool = False) -> float:
    """Top-1 accuracy in eval mode, on uint8 images already on ``device``."""
    return evaluate(model, x, y, normalize, device, bf16)[0]


def apply_recipe(model: nn.Module, recipe: Recipe) -> list[torch.Tensor]:
    """Set what the recipe says of the layers (BatchNorm, LightLinear's scale); return the weights under L2."""
    penalised = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum, m.eps = recipe.bn_momentum, recipe.bn_eps
        elif isinstance(m, LightLinear) and recipe.light_dense_scale:
            m.scale = 2.0 / m.out_features
        elif isinstance(m, LightConv2d) and recipe.light_conv_l2 > 0:
            penalised += [m.reduce.weight, m.expand.weight]
    return penalised


def batch_size_for(recipe: Recipe, n_train: int) -> int:
    """The recipe's batch, shrunk on small training sets so an epoch still has enough steps."""
    if recipe.name == "paper":
        return recipe.batch_size
    return max(32, min(recipe.batch_size, n_train // MIN_STEPS_PER_EPOCH))


def normalization(data: Splits, recipe: Recipe) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-channel (mean, std), in 0-255 pixel units, the recipe's input is ``(pixels - mean) / std`` by:
    the training split's statistics, or (0, 255) for every channel under ``normalize="unit"``."""
    if recipe.normalize == "unit":
        return torch.zeros(data.in_channels), torch.full((data.in_channels,), 255.0)
    mean, std = channel_stats(data.train_x)
    return mean * 255, std * 255


def input_statistics(data: Splits, recipe: Recipe) -> tuple[list[float], list[float]]:
    """``normalization`` as lists of numbers, as a checkpoint stores them."""
    mean, std = normalization(data, recipe)
    return mean.tolist(), std.tolist()


def widest_output(module: nn.Module) -> int:
    """The most channels a convolution layer of ``module`` outputs; a factorised layer counts as
    one layer (its inner convolutions are not the network's width)."""
    if isinstance(getattr(module, "out_channels", None), int):
        return module.out_channels
    return max((widest_output(child) for child in module.children()), default=0)


def memory_format(model: nn.Module, dev: torch.device) -> torch.memory_format:
    """The layout ``model`` trains fastest in: channels_last on CUDA and, on the CPU, where its
    widest convolution has at least ``CHANNELS_LAST_WIDTH`` channels; NCHW below that, where a
    channels_last vector holds too few channels to fill (measured: RESULTS.md, "Memory format by width")."""
    if dev.type == "cuda":
        return torch.channels_last
    return torch.channels_last if widest_output(model) >= CHANNELS_LAST_WIDTH else torch.contiguous_format


def normalizer(data: Splits, recipe: Recipe, dev: torch.device, fmt: torch.memory_format = torch.channels_last):
    """uint8 batch -> the float input the recipe trains on (standardised or pixels / 255), in layout ``fmt``."""
    mean, std = normalization(data, recipe)
    mean, std = mean.view(1, -1, 1, 1).to(dev), std.view(1, -1, 1, 1).to(dev)

    def normalize(xb: torch.Tensor) -> torch.Tensor:
        return ((xb.float() - mean) / std).contiguous(memory_format=fmt)

    return normalize


def check_schedule(checks: Sequence[float], epochs: int, steps_per_epoch: int) -> dict[tuple[int, int], float]:
    """(epoch from 1, step from 1) after which to validate, for each check strictly within an epoch;
    a check at 0 is (1, 0): before the first step."""
    schedule = {}
    for at in checks:
        epoch, frac = int(at) + 1, at - int(at)
        step = round(frac * steps_per_epoch)
        if at == 0 or (0 < at < epochs and 0 < step < steps_per_epoch):
            schedule[(epoch, step)] = at
    return schedule


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, x: torch.Tensor, normalize, batch: int, batches: int = RECALIBRATION_BATCHES) -> None:
    """Re-estimate BatchNorm's running statistics on ``batches`` training batches (forward only, no step).

    A layer replaced by a factorised one changes the activations the next BatchNorm sees; its
    running statistics, the parent's, no longer fit. Fine-tuning would fix them within a few
    steps; measuring the network before it (and starting it) needs them right at once.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches seen
    model.train()
    for xb in x[: batch * batches].split(batch):
        model(normalize(xb))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


def make_network(spec: ModelSpec, parent: Mapping[str, torch.Tensor] | None = None) -> nn.Module:
    """The network to train: built fresh, or inherited from the trained dense ``parent`` (a state_dict)."""
    return inherit(spec, parent) if parent is not None else build_model(spec)


def evaluate_as_given(spec: ModelSpec, data: Splits, recipe: Recipe, device: str = "auto",
                      parent: Mapping[str, torch.Tensor] | None = None) -> tuple[float, float]:
    """(validation, test) accuracy of a network as built (or inherited from ``parent``), before any training."""
    dev = resolve_device(device)
    model = make_network(spec, parent).to(dev)
    apply_recipe(model, recipe)
    normalize = normalizer(data, recipe, dev)
    bf16 = recipe.precision == "bf16"
    val = evaluate(model, data.val_x.to(dev), data.val_y.to(dev), normalize, dev, bf16)[0]
    test = evaluate(model, data.test_x.to(dev), data.test_y.to(dev), normalize, dev, bf16)[0]
    return val, test


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, t: float = DISTILL_TEMPERATURE) -> torch.Tensor:
    """KL divergence from the teacher's softened outputs to the student's, times t squared."""
    return F.kl_div(F.log_softmax(student.float() / t, 1), F.log_softmax(teacher.float() / t, 1),
                    reduction="batchmean", log_target=True) * t * t


def _check_finite(model: nn.Module, finite: torch.Tensor, at: float) -> None:
    """Raise ``Diverged`` when a loss since the start, or a weight now, is not a finite number."""
    if not bool(finite) or not all(torch.isfinite(p).all() for p in model.parameters()):
        raise Diverged(at)


def train(
    spec: ModelSpec,
    data: Splits,
    recipe: Recipe,
    *,
    seed: int = 0,
    device: str = "auto",
    on_epoch: EpochCallback | None = None,
    on_step: StepCallback | None = None,
    checks: Sequence[float] = (),
    on_check: CheckCallback | None = None,
    evaluate_test: bool = True,
    parent: Mapping[str, torch.Tensor] | None = None,
) -> TrainResult:
    """Train ``spec`` on ``data.train``, validate after every epoch, and test once at the end.

    ``checks`` are points within epochs (in epochs, such as 1/3) where the network is also
    validated, for a pruner to judge a candidate before its first epoch ends; a check changes
    nothing of the training (same steps, same random numbers), only costs a validation pass. A
    check at 0 validates the network before its first step.

    With ``parent`` (the state_dict of the trained dense network) the network starts from it,
    factorised layer by layer (``lightlayers.inherit``), its BatchNorm statistics re-estimated
    on a few training batches before the first step: compression, then fine-tuning. With the
    recipe's ``distill`` above 0 it also learns from the parent's outputs on the same batches.

    The test set is evaluated only after training, never inside the loop, so nothing the
    callback sees (and nothing a search chooses) depends on it. Same seed and thread count,
    same result on the CPU (another thread count rounds differently).
    """
    dev = resolve_device(device)
    started = time.perf_counter()
    torch.manual_seed(seed)
    gen = torch.Generator(device=dev).manual_seed(seed)
    model = make_network(spec, parent)
    fmt = memory_format(model, dev)
    model = model.to(dev, memory_format=fmt)
    penalised = apply_recipe(model, recipe)
    teacher = None
    if parent is not None and recipe.distill > 0:
        teacher = parent_network(spec, parent).to(dev, memory_format=fmt).eval().requires_grad_(False)

    train_x, train_y = data.train_x.to(dev), data.train_y.to(dev)
    val_x, val_y = data.val_x.to(dev), data.val_y.to(dev)
    normalize = normalizer(data, recipe, dev, fmt)

    augment = recipe.augment and data.in_channels == 3
    batch = batch_size_for(recipe, len(train_y))
    steps_per_epoch = max(1, len(train_y) // batch)  # drop the ragged last batch
    total_steps = recipe.epochs * steps_per_epoch
    if recipe.optimizer == "adam":
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=0.9, nesterov=True, weight_decay=recipe.weight_decay)
    if recipe.schedule == "onecycle":
        warmup = max(1, total_steps // 10)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (total_steps - s) / max(1, total_steps - warmup))
        )
    else:
        sched = None
    plateau = (torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=recipe.patience)
               if recipe.schedule == "plateau" else None)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)

    bf16 = recipe.precision == "bf16"
    curve: list[float] = []
    lr_curve: list[float] = []
    checked: dict[float, float] = {}
    check_steps = check_schedule(checks, recipe.epochs, steps_per_epoch)
    train_seconds = 0.0
    images = 0
    finite = torch.tensor(True, device=dev)
    if parent is not None:
        sample = torch.randperm(len(train_y), device=dev, generator=gen)[: batch * RECALIBRATION_BATCHES]
        recalibrate_batchnorm(model, train_x[sample], normalize, batch)
    if (1, 0) in check_steps:
        checked[0.0] = evaluate(model, val_x, val_y, normalize, dev, bf16)[0]
        if on_check is not None:
            on_check(0.0, checked[0.0])
    for epoch in range(1, recipe.epochs + 1):
        t0 = time.perf_counter()
        order = torch.randperm(len(train_y), device=dev, generator=gen)
        for step in range(steps_per_epoch):
            idx = order[step * batch:(step + 1) * batch]
            xb = normalize(train_x[idx])
            if augment:
                xb = random_crop_flip(xb, 4, gen)
            with torch.autocast(dev.type, torch.bfloat16, enabled=bf16):
                logits = model(xb)
                loss = loss_fn(logits, train_y[idx])
                if teacher is not None:
                    with torch.no_grad():
                        soft = teacher(xb)
                    loss = (1 - recipe.distill) * loss + recipe.distill * distillation_loss(logits, soft)
            if penalised:
                loss = loss + recipe.light_conv_l2 * sum(w.square().sum() for w in penalised)
            opt.zero_grad(set_to_none=True)
            finite &= torch.isfinite(loss.detach())  # checked at the next validation, without a sync per step
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            if on_step is not None:
                on_step(epoch, step + 1, steps_per_epoch)
            at = check_steps.get((epoch, step + 1))
            if at is not None:
                _check_finite(model, finite, at)
                checking = time.perf_counter()
                checked[at] = evaluate(model, val_x, val_y, normalize, dev, bf16)[0]
                t0 += time.perf_counter() - checking  # images/s counts training steps only
                if on_check is not None:
                    on_check(at, checked[at])
        if dev.type == "cuda":
            torch.cuda.synchronize()
        train_seconds += time.perf_counter() - t0
        images += steps_per_epoch * batch
        _check_finite(model, finite, epoch)
        val_acc, val_loss = evaluate(model, val_x, val_y, normalize, dev, bf16)
        curve.append(val_acc)
        if plateau is not None:
            plateau.step(val_loss)  # our validation split, never the test set
        lr_curve.append(opt.param_groups[0]["lr"])
        if on_epoch is not None:
            on_epoch(epoch, curve[-1])

    test_acc = None
    if evaluate_test:
        test_acc = accuracy(model, data.test_x.to(dev), data.test_y.to(dev), normalize, dev, bf16)
    return TrainResult(
        val_accuracy=curve[-1],
        test_accuracy=test_acc,
        val_curve=curve,
        val_checks=checked,
        epochs_run=len(curve),
        seconds=time.perf_counter() - started,
        images_per_second=images / train_seconds if train_seconds > 0 else 0.0,
        model=model,
        lr_curve=lr_curve,
    )
