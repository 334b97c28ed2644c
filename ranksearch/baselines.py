"""The networks every search trains beside its candidates, and training them once per study.

``conv`` is the dense network itself (the paper's reference network, or the user's network
unmodified), ``separable`` every convolution separable. Each is trained with the candidates'
recipe and data, once per study, and recorded with its validation record so pruners can compare
candidates with it at every rung. With a user's trained weights, the network as given is also
measured once before any training (``given``).
"""

from __future__ import annotations

import optuna

from lightlayers import LayerChoice, ModelSpec, NetworkSpec, reference_spec, reference_spec_for_shape

from ranksearch import records, signals
from ranksearch.config import SearchConfig
from ranksearch.data import REFERENCE_NAMES, Splits
from ranksearch.events import Emit, trainer_callbacks
from ranksearch.objectives import measure_network
from ranksearch.starts import queue_warm_starts
from ranksearch.trainer import evaluate_as_given, resolve_device, train

BASELINE_FAMILIES = ("conv", "separable")


def baseline_spec(cfg: SearchConfig, splits: Splits, family: str) -> ModelSpec | NetworkSpec:
    """The network of ``family`` for the data: conv is the dense network itself (the paper's
    reference network, or the user's network unmodified), separable every convolution separable."""
    if cfg.model is not None:
        base = NetworkSpec(cfg.model["source"], splits.in_channels, splits.image_size, splits.num_classes,
                           cfg.model["kwargs"], weights=cfg.model["weights"])
        return base.with_layers({  # every slot named: the unchanged ones as conv / linear
            s.name: LayerChoice("linear") if s.kind == "dense" else LayerChoice(family) for s in base.slots()
        })
    if cfg.data.dataset in REFERENCE_NAMES:
        return reference_spec(cfg.data.dataset, family)
    return reference_spec_for_shape(splits.in_channels, splits.image_size, splits.num_classes, family)


def _summary(record: records.Record) -> str:
    return (f"{record.trainable_params:,} trainable parameters, val {record.val_curve[-1]:.4f}, "
            f"test {record.test_accuracy:.4f}, {record.seconds:.0f} s")


def measure_given(study: optuna.Study, cfg: SearchConfig, splits: Splits, emit: Emit, job: int = 0) -> None:
    """With a user's trained weights: the unmodified network's accuracy before any training, once per study."""
    if cfg.model is None or not cfg.model["weights"] or records.has_baseline(study, "given"):
        return
    spec = baseline_spec(cfg, splits, "conv")
    with signals.allowed():
        val, test = evaluate_as_given(spec, splits, cfg.recipe, cfg.device)
    record = records.Record("baseline", "given", None, "COMPLETE", spec.to_dict(), measure_network(spec, resolve_device(cfg.device)),
                            val_curve=[val], test_accuracy=test, seconds=0.0)
    records.record_baseline(study, record, _summary(record))
    emit({"kind": "baseline", "job": job, "family": "given (trained weights, not retrained)",
          "params": record.trainable_params, "val": val, "test": test, "seconds": 0.0})


def train_baselines(study: optuna.Study, cfg: SearchConfig, splits: Splits, emit: Emit, checks: tuple[float, ...],
                    families: tuple[str, ...] = BASELINE_FAMILIES, job: int = 0) -> None:
    """Train the baselines of ``families`` not yet recorded, with the candidates' recipe and data;
    after the Conv2d baseline, queue the warm starts read off its weights."""
    if "conv" in families:
        measure_given(study, cfg, splits, emit, job)
    for family in families:
        if records.has_baseline(study, family):
            continue
        spec = baseline_spec(cfg, splits, family)
        measures = measure_network(spec, resolve_device(cfg.device))
        curve: list[float] = []
        checked: dict[str, float] = {}
        callbacks = trainer_callbacks(emit, job, f"baseline {family}", int(measures["trainable_params"]),
                                      cfg.recipe.epochs, checks, curve, checked)
        with signals.allowed():
            result = train(spec, splits, cfg.recipe, seed=cfg.seed, device=cfg.device, **callbacks)
        record = records.Record("baseline", family, None, "COMPLETE", spec.to_dict(), measures, val_curve=result.val_curve,
                                val_checks=checked, test_accuracy=result.test_accuracy, seconds=result.seconds)
        records.record_baseline(study, record, _summary(record))
        if family == "conv" and cfg.warm_start:
            queue_warm_starts(study, baseline_spec(cfg, splits, "conv"), cfg.family, result.model.cpu())
        emit({"kind": "baseline", "job": job, "family": family, "params": record.trainable_params,
              "val": result.val_accuracy, "test": result.test_accuracy, "seconds": result.seconds})
