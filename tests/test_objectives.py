"""The objective registry: a newly registered objective is measured, written, and shapes the front and the report."""

import pandas as pd
import pytest
import torch
from torch import nn

from conftest import make_row
from lightlayers import reference_spec
from ranksearch.config import DataConfig, SearchConfig, make_recipe
from ranksearch.objectives import Objective, measure_network, measured_columns, register, unregister
from ranksearch.results import Tables, front_columns, pareto_front, trials_frame


def _weighted_layers(model: nn.Module, input_shape, device) -> dict[str, float]:
    return {"weighted_layers": float(sum(1 for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))))}


@pytest.fixture
def weighted_layers():
    objective = register(Objective("depth", (("weighted_layers", "layers with weights"),), _weighted_layers, "{:.0f} layers"))
    yield objective
    unregister("depth")


def cfg(*objectives):
    return SearchConfig(DataConfig("mnist"), make_recipe("fast", "mnist", 2), objectives=objectives, study_name="o")


def test_a_registered_objective_is_measured_for_every_network(weighted_layers):
    measures = measure_network(reference_spec("mnist", "light", 2), torch.device("cpu"))
    assert measures["weighted_layers"] == 2 * 6  # six LightConv2d of two convolutions each; LightLinear is neither class
    assert "weighted_layers" in measured_columns()
    assert {"trainable_params", "flops", "latency_ms"} <= set(measures)


def test_an_unknown_objective_is_refused_naming_the_known_ones(weighted_layers):
    with pytest.raises(ValueError, match="objectives must be params first, optionally then flops and latency and latency-onnx and depth"):
        cfg("params", "size")
    with pytest.raises(ValueError, match="got 'params,latency:eager,latency'"):  # as given, not as read
        cfg("params", "latency:eager", "latency")
    assert cfg("params", "depth").objectives == ("params", "depth")


def test_a_registered_objective_shapes_the_front_the_csv_and_the_report(weighted_layers):
    from ranksearch.report_data import report_data

    def row(n, params, val, layers):
        r = make_row(n, params, val, val, spec=reference_spec("mnist", "light", 2).to_dict(), latency=0.5)
        r.measures["weighted_layers"] = layers
        return r

    # Trial 1 is larger and less accurate than trial 0, but has fewer layers: on the front only when depth counts.
    rows = [row(0, 1000, 0.80, 10), row(1, 2000, 0.70, 5), row(2, 3000, 0.60, 20)]
    assert [r.number for r in pareto_front(rows, front_columns(cfg("params")))] == [0]
    front = pareto_front(rows, front_columns(cfg("params", "depth")))
    assert [r.number for r in front] == [0, 1]
    for r in front:
        r.on_front = True
    tables = Tables(rows, [], front, 5000, 0.0)
    frame = trials_frame(tables)
    assert frame["weighted_layers"].tolist() == [10, 5, 20]
    assert list(frame.columns).index("weighted_layers") > list(frame.columns).index("epochs_trained")
    data = report_data(tables, cfg("params", "depth"), "o", None)
    assert data["cost_axes"]["weighted_layers"] == "layers with weights"
    assert data["cost_fronts"]["weighted_layers"] == [1, 0]  # by layers: trial 1 has the fewest, trial 0 is more accurate
    assert pd.isna(trials_frame(Tables([make_row(3, 10, 0.5)], [], [], 10, 0.0))["weighted_layers"][0])


@pytest.mark.slow
def test_a_search_minimises_a_registered_objective_end_to_end(weighted_layers, mnist_like, tmp_path):
    import ranksearch

    result = ranksearch.run(dataset="mnist", data_dir=str(mnist_like), budget=3, epochs=1, train_subset=200,
                            objectives="params,depth", out=tmp_path / "run", jobs=1, progress=False)
    assert result.study.metric_names == ["val_accuracy", "trainable_params", "weighted_layers"]
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert trials["weighted_layers"].notna().all() and (trials["weighted_layers"] > 0).all()
    done = [t for t in result.study.trials if t.state.name == "COMPLETE"]
    assert all(t.values[2] == t.user_attrs["weighted_layers"] for t in done)
