"""Any PyTorch network as a model description: where it comes from, what data it is built for, which layers change.

A ``NetworkSpec`` names a base network by ``source``: a module attribute such as
``torchvision.models:resnet18`` or a user's file ``path/to/model.py:ClassOrFunction``, called
with ``kwargs`` (and ``num_classes`` when it takes one and ``kwargs`` does not say). Its
``layers`` name the replaced layers by module path, each with a family and rank, exactly as a
reference network's slots do; every other layer stays as the base network has it. With
``weights`` (a state_dict file, or a checkpoint of ``ranksearch train --save``) the network
starts from trained weights, and replaced layers are initialised by decomposing them where an
exact decomposition exists (``lightlayers.factorize``).

The paper's reference networks are the other kind of description (``ModelSpec``); both have
``slots()``, ``layers``, ``with_layers()``, ``to_dict()``, and ``build_model`` builds either.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pickle
import sys
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lightlayers.spec import LayerChoice, Slot

_KEYS = ("source", "kwargs", "in_channels", "image_size", "num_classes", "layers", "weights")


def _import_source(source: str):
    """The callable ``source`` names: ``package.module:attr`` or ``path/to/file.py:attr``."""
    if not isinstance(source, str) or source.count(":") != 1:
        raise ValueError(f"model source must be 'package.module:Name' or 'path/to/file.py:Name', got {source!r}")
    where, name = source.split(":")
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise ValueError(f"model source {source!r}: no such file {path}")
            module_name = f"_ranksearch_user_{abs(hash(str(path.resolve())))}"
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except ValueError:
        raise
    except Exception as e:  # the user's code failed to import: one line with its own words
        raise ValueError(f"model source {source!r} does not import: {type(e).__name__}: {e}") from None
    if not hasattr(module, name):
        raise ValueError(f"model source {source!r}: {where} has no {name!r}")
    return getattr(module, name)


def _construct(source: str, kwargs: dict[str, Any], num_classes: int) -> nn.Module:
    make = _import_source(source)
    if not callable(make):
        raise ValueError(f"model source {source!r} is not a class or function that builds an nn.Module")
    args = dict(kwargs)
    try:
        params = inspect.signature(make).parameters
        takes = "num_classes" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    except (TypeError, ValueError):  # no signature to read (a builtin): call as given
        takes = False
    if "num_classes" not in args and takes:  # torchvision's builders take it through **kwargs
        args["num_classes"] = num_classes
    try:
        model = make(**args)
    except Exception as e:
        raise ValueError(f"model source {source!r} failed with arguments {args}: {type(e).__name__}: {e}") from None
    if not isinstance(model, nn.Module):
        raise ValueError(f"model source {source!r} gave a {type(model).__name__}, not an nn.Module")
    return model


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict in a file (a plain one, or a ``ranksearch train --save`` checkpoint); ValueError naming
    the file when it is missing, unreadable, not a state_dict, or holds NaN or infinite values."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"weights {p}: no such file")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # what torch.save(model) gives: a pickled class, which weights_only refuses
        raise ValueError(f"weights {p}: not a state_dict file (a whole pickled model?); save the weights with "
                         "torch.save(model.state_dict(), path)") from None
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0]
        raise ValueError(f"weights {p}: not a PyTorch state_dict file ({type(e).__name__}: {first})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"weights {p}: expected a state_dict, got {type(state).__name__}")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"weights {p} hold NaN or infinite values (in {', '.join(bad[:3])}); "
                         "they come from a training that diverged: retrain the network or use other weights")
    return state


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load a state_dict file (or a ``ranksearch train --save`` checkpoint) into ``model``; ValueError if it does not fit."""
    p = Path(path)
    state = load_state(p)
    own = model.state_dict()
    missing, unexpected = [k for k in own if k not in state], [k for k in state if k not in own]
    if missing or unexpected:
        raise ValueError(f"weights {p} do not fit the model: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]} (of {len(missing)} and {len(unexpected)})")
    wrong = [f"{k} {tuple(v.shape)} (the model has {tuple(own[k].shape)})" for k, v in state.items() if own[k].shape != v.shape]
    if wrong:
        raise ValueError(f"weights {p} do not fit the model: other shapes in {', '.join(wrong[:2])}")
    model.load_state_dict(state)


@lru_cache(maxsize=8)
def _slots(source: str, kwargs_key: str, shape: tuple[int, int, int], num_classes: int) -> tuple[Slot, ...]:
    from lightlayers.factorize import replaceable_layers

    model = _construct(source, _json_kwargs(kwargs_key), num_classes)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"{source} has no trainable parameters: there is nothing to train or factorise; "
                         "give a network with layers that learn")
    try:
        layers = replaceable_layers(model, shape)  # runs one forward pass on an image of the data's shape
    except (RuntimeError, ValueError, TypeError) as e:
        c, h, w = shape
        raise ValueError(f"{source} cannot take {c}x{h}x{w} images: {type(e).__name__}: {str(e).splitlines()[0]} "
                         f"(if it has an argument for input channels, give it with --model-args)") from None
    return tuple(Slot(layer.path, layer.shape) for layer in layers)


def _json_kwargs(key: str) -> dict[str, Any]:
    import json

    return json.loads(key)


@dataclass
class NetworkSpec:
    """A user's (or a library's) network, the data shape it is built for, and its replaced layers."""

    source: str
    in_channels: int
    image_size: int
    num_classes: int
    kwargs: dict[str, Any] = field(default_factory=dict)
    layers: dict[str, LayerChoice] = field(default_factory=dict)
    weights: str | None = None

    def __post_init__(self) -> None:
        for name in ("in_channels", "image_size", "num_classes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.kwargs, dict):
            raise ValueError(f"model kwargs must be a JSON object, got {self.kwargs!r}")
        slots = {s.name: s for s in self.slots()}
        for path, choice in self.layers.items():
            if path not in slots:
                known = ", ".join(list(slots)[:6]) + (", ..." if len(slots) > 6 else "")
                raise ValueError(f"layer {path!r} is not a replaceable layer of {self.source} (replaceable: {known})")
            family = choice.family_for(slots[path])
            family.check(slots[path].shape, choice.ranks(slots[path]), f"layer {path}")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.image_size, self.image_size)

    def slots(self) -> list[Slot]:
        """The replaceable layers of the base network, in forward order (one forward pass, cached)."""
        import json

        return list(_slots(self.source, json.dumps(self.kwargs, sort_keys=True), self.input_shape, self.num_classes))

    def with_layers(self, layers: dict[str, LayerChoice]) -> "NetworkSpec":
        return replace(self, layers=dict(layers))

    def base(self) -> nn.Module:
        """The base network as its source builds it, with ``weights`` loaded when given."""
        model = _construct(self.source, self.kwargs, self.num_classes)
        if self.weights:
            load_weights(model, self.weights)
        return model

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "kwargs": self.kwargs, "in_channels": self.in_channels, "image_size": self.image_size,
            "num_classes": self.num_classes, "layers": {name: c.to_dict() for name, c in self.layers.items()},
            "weights": self.weights,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NetworkSpec":
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise ValueError(f"model spec has unknown field(s) {', '.join(unknown)}")
        missing = [k for k in ("source", "in_channels", "image_size", "num_classes") if k not in data]
        if missing:
            raise ValueError(f"model spec is missing {', '.join(missing)}")
        layers = {}
        for name, choice in (data.get("layers") or {}).items():
            if not isinstance(choice, dict) or "family" not in choice or set(choice) - {"family", "rank"}:
                raise ValueError(f"layer {name!r} must be {{\"family\": ..., \"rank\": ...}}, got {choice!r}")
            rank = choice.get("rank")
            layers[name] = LayerChoice(choice["family"], tuple(rank) if isinstance(rank, list) else rank)
        return cls(data["source"], data["in_channels"], data["image_size"], data["num_classes"],
                   data.get("kwargs") or {}, layers, data.get("weights"))


def build_network(spec: NetworkSpec) -> nn.Module:
    """The base network with ``spec.layers`` replaced; from trained weights, decomposed where exact."""
    from lightlayers.factorize import factorize

    model = spec.base()
    dense = {"conv", "linear"}
    changes = {path: (c.family, c.rank) for path, c in spec.layers.items() if c.family not in dense}
    model = factorize(model, changes, init="svd" if spec.weights else "random") if changes else model
    model.spec = spec  # counting reads the slots from here, as from a ReferenceCNN
    return model


def check_outputs(spec: NetworkSpec) -> None:
    """ValueError unless the base network maps one image of the spec's shape to ``num_classes`` outputs."""
    model = _construct(spec.source, spec.kwargs, spec.num_classes).eval()
    with torch.no_grad():
        try:
            out = model(torch.zeros(1, *spec.input_shape))
        except Exception as e:
            raise ValueError(f"{spec.source} cannot take {spec.in_channels}x{spec.image_size}x{spec.image_size} images: "
                             f"{type(e).__name__}: {e}") from None
    if tuple(out.shape) != (1, spec.num_classes):
        raise ValueError(f"{spec.source} gives outputs of shape {tuple(out.shape)[1:]} for one image; the data has "
                         f"{spec.num_classes} classes: give num_classes in its arguments, or a head with that many outputs")

