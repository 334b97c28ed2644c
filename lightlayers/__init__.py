"""lightlayers: parameter-efficient convolution and dense layers, and the LightLayers paper's CNNs."""

from lightlayers.counting import count_model, flops, flops_by_module, keras_params, trainable_params
from lightlayers.decef_conv import DeCEFConv2d
from lightlayers.effective_rank import effective_rank, effective_ranks, energy_rank
from lightlayers.families import Family, LayerShape, family_names, get_family, register
from lightlayers.light_conv import LightConv2d
from lightlayers.light_linear import LightLinear
from lightlayers.models import ReferenceCNN, build_model, make_layer
from lightlayers.separable_conv import SeparableConv2d
from lightlayers.spec import (
    PAPER_HEAD_RANK,
    REFERENCE_DATASETS,
    LayerChoice,
    ModelSpec,
    Slot,
    reference_spec,
    reference_spec_for_shape,
    uniform_spec,
)

__all__ = [
    "PAPER_HEAD_RANK",
    "REFERENCE_DATASETS",
    "DeCEFConv2d",
    "Family",
    "LayerChoice",
    "LayerShape",
    "LightConv2d",
    "LightLinear",
    "ModelSpec",
    "ReferenceCNN",
    "SeparableConv2d",
    "Slot",
    "build_model",
    "count_model",
    "effective_rank",
    "effective_ranks",
    "energy_rank",
    "family_names",
    "flops",
    "flops_by_module",
    "get_family",
    "keras_params",
    "make_layer",
    "reference_spec",
    "reference_spec_for_shape",
    "register",
    "trainable_params",
    "uniform_spec",
]
