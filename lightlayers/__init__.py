"""lightlayers: parameter-efficient convolution and dense layers, and the LightLayers paper's CNNs."""

from lightlayers.counting import count_model, flops, flops_by_module, keras_params, trainable_params
from lightlayers.decef_conv import DeCEFConv2d
from lightlayers.effective_rank import effective_rank, effective_ranks, energy_curve, energy_rank, rank_at
from lightlayers.factorize import (
    ReplaceableLayer,
    decef_from_conv,
    factorize,
    layer_shape,
    light_conv_from_conv,
    light_linear_from_linear,
    replaceable_layers,
    separable_from_conv,
)
from lightlayers.families import Family, LayerShape, family_names, get_family, register
from lightlayers.light_conv import LightConv2d
from lightlayers.light_linear import LightLinear
from lightlayers.models import ReferenceCNN, build_model, energy_kept, inherit, make_layer, parent_network, spec_from_dict
from lightlayers.network import NetworkSpec
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
    "NetworkSpec",
    "ReferenceCNN",
    "ReplaceableLayer",
    "SeparableConv2d",
    "Slot",
    "build_model",
    "count_model",
    "decef_from_conv",
    "effective_rank",
    "effective_ranks",
    "energy_curve",
    "energy_kept",
    "energy_rank",
    "rank_at",
    "factorize",
    "family_names",
    "flops",
    "flops_by_module",
    "get_family",
    "inherit",
    "parent_network",
    "keras_params",
    "layer_shape",
    "light_conv_from_conv",
    "light_linear_from_linear",
    "make_layer",
    "reference_spec",
    "reference_spec_for_shape",
    "register",
    "replaceable_layers",
    "separable_from_conv",
    "spec_from_dict",
    "trainable_params",
    "uniform_spec",
]
