"""``ranksearch report``: the study as one self-contained HTML page that answers "which model do I take?".

Two steps: ``report_data`` turns a study into plain numbers (tested on its own), and
``render_html`` draws them with plotly, with plotly.js embedded so the page opens offline.
The page opens with the verdict (``ranksearch.verdict``), in plain HTML, then a table of the
baselines and the front, then the plots: fronts of parameters, FLOPs and cost (inference
latency or training time) against validation accuracy, with the paper's reported figures as a
marker set of their own; test beside validation accuracy; learning curves; hypervolume; ranks.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from lightlayers import build_model, count_model, reference_spec
from lightlayers.paper import PAPER_CITATION, PAPER_TABLES, paper_results

from ranksearch.config import SearchConfig
from ranksearch.results import Row, Tables, pareto_front, study_tables, write_outputs
from ranksearch.storage import open_run
from ranksearch.verdict import Verdict, baseline_label, duration, layers_label, slot_choices, verdict

FRONT_COLOUR, TRIAL_COLOUR, PRUNED_COLOUR, PAPER_COLOUR = "#d62728", "#1f77b4", "#8c8c8c", "#7b3fb8"
BASELINE_COLOURS = {"conv": "#2ca02c", "separable": "#ff7f0e"}
PAPER_LABEL = "reported by the paper (its recipe, test set)"
PAPER_TRAINED_LABEL = "the paper's uniform Light models, trained here"
COST_AXES = {  # the cost front's x-axes, in the order the menu offers them
    "latency_ms": "inference latency, ms per image at batch 1 (median)",
    "latency_ms_batch": "inference latency, ms per image at batch 256",
    "seconds": "training wall time of the candidate, seconds",
}
PLOT_CONFIG = {"responsive": True, "displaylogo": False}


# -- data -------------------------------------------------------------------------------------
def _slot_text(spec: dict[str, Any]) -> dict[str, str]:
    """Each slot's family symbol and rank from the registry: ``L3``, ``D2``, ``S``, ``C``, ``F``."""
    return {name: fam.symbol + "/".join(str(r) for r in ranks) for name, _, fam, ranks in slot_choices(spec)}


def _point(r: Row) -> dict[str, Any]:
    return {
        "number": r.number, "state": r.state, "role": r.role, "family": r.family,
        "trainable_params": r.trainable_params, "keras_params": r.keras_params, "flops": r.flops,
        "val_accuracy": r.val_accuracy, "last_val_accuracy": r.last_val_accuracy, "test_accuracy": r.test_accuracy,
        "seconds": r.seconds, "epochs_run": r.epochs_run, "epochs_trained": r.epochs_trained, "latency_ms": r.latency_ms, "latency_ms_batch": r.latency_ms_batch,
        "ranks": r.ranks, "families": r.families, "slots": _slot_text(r.spec), "layers": layers_label(r.spec),
        "val_curve": r.val_curve, "on_front": r.on_front,
    }


def _baseline(b: Row) -> dict[str, Any]:
    return {**_point(b), "label": baseline_label(b.family)}


@lru_cache(maxsize=64)
def _count(dataset: str, family: str, rank: int | None) -> tuple[int, int, int]:
    counts = count_model(build_model(reference_spec(dataset, family, rank)))
    return counts.trainable_params, counts.keras_params, counts.flops


def paper_reported(dataset: str) -> list[dict[str, Any]]:
    """The paper's reported figures for ``dataset`` (none for a dataset it did not report).

    Each is placed at the trainable parameters (and FLOPs) of the same network rebuilt by
    ``reference_spec``: the paper counts the Keras way, trainable plus BatchNorm's moving statistics.
    """
    points = []
    for r in paper_results(dataset):
        trainable, keras, flops = _count(dataset, r.family, r.k)
        points.append({
            "label": r.label, "short": f"k={r.k}" if r.k is not None else {"conv": "Conv2D", "separable": "Sep"}[r.family],
            "method": r.method, "family": r.family, "k": r.k, "paper_keras_params": r.keras_params,
            "keras_params": keras, "trainable_params": trainable, "flops": flops,
            "test_accuracy": r.test_accuracy, "test_loss": r.test_loss, "epochs": r.epochs,
            "batch_size": r.batch_size, "learning_rate": r.learning_rate,
        })
    return points


def _paper_trained(candidates: list[Row], dataset: str) -> list[dict[str, Any]]:
    """The study's candidates that are exactly the paper's uniform-rank Light models."""
    by_spec = {json.dumps(r.spec, sort_keys=True): r for r in candidates}
    points = []
    for r in paper_results(dataset):
        if r.family != "light":
            continue
        row = by_spec.get(json.dumps(reference_spec(dataset, r.family, r.k).to_dict(), sort_keys=True))
        if row is not None:
            points.append({"label": f"k={r.k}", "rank": r.k, "number": row.number, "paper_keras_params": r.keras_params})
    return points


def _front_numbers(complete: list[Row], x: str) -> list[int]:
    return [r.number for r in pareto_front([r for r in complete if getattr(r, x) is not None], x=x)]


def report_data(tables: Tables, cfg: SearchConfig, study_name: str, run_dir: str | None) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready numbers; ``verdict`` is ``Verdict.to_dict()``."""
    complete = [r for r in tables.candidates if r.state == "COMPLETE"]
    v = verdict(tables, replace(cfg, study_name=study_name))
    return {
        "study": study_name,
        "dataset": cfg.data.dataset,
        "family": cfg.family,
        "epochs": cfg.recipe.epochs,
        "recipe": cfg.recipe.name,
        "train_subset": cfg.data.train_subset,
        "budget": cfg.budget,
        "verdict": v.to_dict(),
        "points": [_point(r) for r in tables.candidates],
        "front": [r.number for r in tables.front],
        "flops_front": _front_numbers(complete, "flops"),
        "cost_fronts": {x: _front_numbers(complete, x) for x in COST_AXES},
        "baselines": [_baseline(b) for b in tables.baselines],
        # The paper's figures are of its own networks: none beside a user's network.
        "paper_reported": paper_reported(cfg.data.dataset) if cfg.model is None else [],
        "paper_trained": _paper_trained(tables.candidates, cfg.data.dataset) if cfg.model is None else [],
        "paper_citation": PAPER_CITATION,
        "paper_tables": PAPER_TABLES,
        "hypervolume": [{"finished": n, "hypervolume": hv} for n, hv in tables.history],
        "hypervolume_reference_params": tables.reference_params,
        "run_dir": run_dir,
        "train_command": _train_command(cfg),
    }


def _train_command(cfg: SearchConfig) -> str:
    """``ranksearch train`` flags that train a baseline the way the study did (the family is added per row)."""
    d, r = cfg.data, cfg.recipe
    parts = [f"ranksearch train --dataset {d.dataset}"]
    if d.data_dir:
        parts.append(f"--data-dir {d.data_dir}")
    if d.train_subset:
        parts.append(f"--train-subset {d.train_subset}")
    if d.val_fraction != 0.1:
        parts.append(f"--val-fraction {d.val_fraction}")
    parts.append(f"--recipe {r.name} --epochs {r.epochs}")
    if cfg.seed:
        parts.append(f"--seed {cfg.seed}")
    return " ".join(parts)


# -- plot helpers -----------------------------------------------------------------------------
def _fmt_count(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def log_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Tick values and labels for a log axis from ``lo`` to ``hi``: 1-2-5 per decade (1-2-3-5-7 within
    a decade or less), labelled ``2k``, ``10k``, ``1.5M``, so no label is a bare mantissa."""
    lo, hi = max(lo, 1e-12), max(hi, lo * 1.0001)
    ratio = hi / lo
    steps = (1, 2, 5) if ratio > 100 else (1, 2, 3, 5, 7) if ratio > 8 else (1, 1.5, 2, 3, 4, 5, 6, 7, 8)
    vals = []
    for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for s in steps:
            v = s * 10**e
            if lo <= v <= hi:
                vals.append(v)
    if len(vals) < 3:  # a narrow range: multiples of a round step, 3 to 8 of them
        for e in range(math.floor(math.log10(hi - lo)) - 2, math.ceil(math.log10(hi)) + 1):
            for s in (1, 2, 2.5, 5):
                step = s * 10**e
                multiples = [k * step for k in range(math.ceil(lo / step), math.floor(hi / step) + 1)]
                if 3 <= len(multiples) <= 8:
                    vals = [float(f"{v:.6g}") for v in multiples]
                    break
            else:
                continue
            break
    return vals, [_fmt_count(v) if v >= 1 else f"{v:g}" for v in vals]


def _log_axis(values: list[float], title: str) -> dict[str, Any]:
    values = [v for v in values if v is not None and v > 0]
    if not values:
        return dict(type="log", title=title)
    lo, hi = min(values) / 1.15, max(values) * 1.15
    ticks, text = log_ticks(lo, hi)
    return dict(type="log", title=title, range=[math.log10(lo), math.log10(hi)], tickvals=ticks, ticktext=text)


def y_range(core: list[float], extra: list[float]) -> tuple[float, float]:
    """The accuracy axis: set by ``core`` (complete candidates and baselines), widened to ``extra``
    values (the paper's figures) within one core span of it; anything further (and every pruned
    point) is drawn clipped at the axis' edge."""
    core = [v for v in core if v is not None]
    if not core:
        core = [v for v in extra if v is not None] or [0.0, 1.0]
    lo, hi = min(core), max(core)
    span = max(hi - lo, 0.02)
    near = [v for v in extra if v is not None and lo - span <= v <= hi + span]
    lo, hi = min([lo] + near), max([hi] + near)
    pad = 0.06 * max(hi - lo, 0.02)
    return max(0.0, lo - pad), hi + pad


def _clip(y: float | None, rng: tuple[float, float]) -> tuple[float | None, bool]:
    if y is None:
        return None, False
    lo, hi = rng
    pad = (hi - lo) * 0.015
    if y < lo:
        return lo + pad, True
    if y > hi:
        return hi - pad, True
    return y, False


def _acc(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _ms(x: float | None) -> str:
    return "not measured" if x is None else f"{x:.3f} ms"


def _hover(p: dict[str, Any]) -> str:
    who = f"trial {p['number']}" if p["role"] == "candidate" else f"{p['label']} baseline"
    val = _acc(p["val_accuracy"]) if p["val_accuracy"] is not None else \
        f"{_acc(p['last_val_accuracy'])} at epoch {p['epochs_trained']:g} (pruned)"
    test = _acc(p["test_accuracy"]) if p["test_accuracy"] is not None else "n/a (pruned)"
    return (f"<b>{who}</b> ({p['state']})<br>{html.escape(p['layers'])}<br>params {p['trainable_params']:,} "
            f"(Keras {p['keras_params']:,})<br>FLOPs {p['flops']:,}<br>val {val}<br>test {test}"
            f"<br>training {p['seconds']:.1f} s, {p['epochs_trained']:g} epochs<br>latency {_ms(p['latency_ms'])} "
            f"(batch 1), {_ms(p['latency_ms_batch'])} per image (batch 256)")


def _paper_hover(p: dict[str, Any], citation: str, tables: str) -> str:
    return (f"<b>{html.escape(p['label'])}, {PAPER_LABEL}</b><br>{html.escape(citation)}, {tables}"
            f"<br>test accuracy {p['test_accuracy']:.4f} (test loss {p['test_loss']:.4f})"
            f"<br>the paper prints {p['paper_keras_params']:,} parameters (Keras convention);"
            f"<br>drawn at {p['trainable_params']:,} trainable parameters, the same network rebuilt here"
            f"<br>{p['epochs']} epochs, batch {p['batch_size']}, lr {p['learning_rate']:g}: not trained here")


def _layout(fig: go.Figure, title: str, height: int, **kw) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=17)), height=height,
        margin=dict(l=70, r=30, t=60, b=60), font=dict(size=13), plot_bgcolor="#f7f7f9",
        legend=dict(orientation="h", yanchor="top", y=-0.16, x=0, font=dict(size=12)), hoverlabel=dict(align="left"), **kw,
    )
    fig.update_xaxes(gridcolor="#dddddd", zeroline=False, automargin=True)
    fig.update_yaxes(gridcolor="#dddddd", zeroline=False, automargin=True)
    return fig


def _front_traces(data: dict[str, Any], x: str, front_ids: list[int], rng: tuple[float, float],
                  paper: bool, visible: bool = True, group: str = "", pruned: bool = True) -> list[go.Scatter]:
    """Every trial, the front, the baselines (and the paper's points) on one x-axis."""
    traces = []
    by_number = {p["number"]: p for p in data["points"]}
    pts = [p for p in data["points"] if p[x] is not None]
    complete = [p for p in pts if p["state"] == "COMPLETE"]
    others = [p for p in complete if p["number"] not in set(front_ids)]
    traces.append(go.Scatter(
        x=[p[x] for p in others], y=[p["val_accuracy"] for p in others], mode="markers", name="complete candidate",
        marker=dict(color=TRIAL_COLOUR, size=8, opacity=0.65), hovertext=[_hover(p) for p in others], hoverinfo="text",
        visible=visible, legendgroup=group + "c",
    ))
    if pruned:
        stopped = [p for p in pts if p["state"] == "PRUNED"]
        clipped = [_clip(p["last_val_accuracy"], rng) for p in stopped]
        traces.append(go.Scatter(
            x=[p[x] for p in stopped], y=[c[0] for c in clipped], mode="markers",
            name="pruned (last validation accuracy; ▼ below the axis)",
            marker=dict(color=PRUNED_COLOUR, size=[9 if c[1] else 8 for c in clipped], opacity=0.6,
                        symbol=["triangle-down" if c[1] else "x" for c in clipped]),
            hovertext=[_hover(p) for p in stopped], hoverinfo="text", visible=visible, legendgroup=group + "p",
        ))
    front = [by_number[n] for n in front_ids]
    traces.append(go.Scatter(
        x=[p[x] for p in front], y=[p["val_accuracy"] for p in front], mode="lines+markers", line_shape="hv",
        name="Pareto front of the candidates", line=dict(color=FRONT_COLOUR, width=2),
        marker=dict(color=FRONT_COLOUR, size=10), hovertext=[_hover(p) for p in front], hoverinfo="text",
        visible=visible, legendgroup=group + "f",
    ))
    for b in data["baselines"]:
        if b[x] is None:
            continue
        traces.append(go.Scatter(
            x=[b[x]], y=[b["val_accuracy"]], mode="markers+text", text=[f"{b['label']} baseline"], textposition="top center",
            textfont=dict(color=BASELINE_COLOURS.get(b["family"], "#333"), size=13),
            name=f"{b['label']} baseline", marker=dict(color=BASELINE_COLOURS.get(b["family"], "#333"), symbol="star", size=18,
                                                       line=dict(color="white", width=1)),
            hovertext=[_hover(b)], hoverinfo="text", visible=visible, legendgroup=group + b["family"], cliponaxis=False,
        ))
    if paper and data["paper_trained"]:
        trained = [(t, by_number[t["number"]]) for t in data["paper_trained"] if by_number[t["number"]][x] is not None]
        ys = [_clip(p["val_accuracy"] if p["val_accuracy"] is not None else p["last_val_accuracy"], rng)[0] for _, p in trained]
        traces.append(go.Scatter(
            x=[p[x] for _, p in trained], y=ys, mode="markers", name=PAPER_TRAINED_LABEL,
            marker=dict(color=PAPER_COLOUR, symbol="circle-open", size=16, line=dict(width=2)),
            hovertext=[f"the paper's Light {t['label']}, trained here as trial {t['number']}<br>" + _hover(p) for t, p in trained],
            hoverinfo="text", visible=visible,
        ))
    if paper and data["paper_reported"]:
        rep = data["paper_reported"]
        clipped = [_clip(p["test_accuracy"], rng) for p in rep]
        traces.append(go.Scatter(
            x=[p[x] for p in rep], y=[c[0] for c in clipped], mode="markers+text",
            text=[f"{p['short']}" + (f" ({p['test_accuracy']:.2f})" if c[1] else "") for p, c in zip(rep, clipped)],
            textposition="middle right", textfont=dict(color=PAPER_COLOUR, size=12),
            name=f"{PAPER_LABEL}: {data['paper_citation']}",
            marker=dict(color=PAPER_COLOUR, size=11, line=dict(color="white", width=1),
                        symbol=[("triangle-down" if c[0] < p["test_accuracy"] else "triangle-up") if c[1] else "diamond"
                                for p, c in zip(rep, clipped)]),
            hovertext=[_paper_hover(p, data["paper_citation"], data["paper_tables"]) for p in rep], hoverinfo="text",
            visible=visible, cliponaxis=False,
        ))
    return traces


def _core_accuracies(data: dict[str, Any]) -> list[float]:
    return [p["val_accuracy"] for p in data["points"] if p["state"] == "COMPLETE"] + \
        [b["val_accuracy"] for b in data["baselines"]]


def _front_figure(data: dict[str, Any], x: str, front_ids: list[int], title: str) -> go.Figure:
    paper = [p["test_accuracy"] for p in data["paper_reported"]]
    rng = y_range(_core_accuracies(data), paper)
    fig = go.Figure(_front_traces(data, x, front_ids, rng, paper=True))
    xs = [p[x] for p in data["points"]] + [b[x] for b in data["baselines"]] + [p[x] for p in data["paper_reported"]]
    label = "trainable parameters (log scale)" if x == "trainable_params" else "FLOPs: multiply-accumulates per image (log scale)"
    _layout(fig, title, 600, xaxis=_log_axis(xs, label),
            yaxis=dict(title="accuracy: validation (paper ◆: test)", range=list(rng)))
    return fig


def _cost_values(data: dict[str, Any], x: str) -> list[float]:
    rows = [p for p in data["points"] if x != "seconds" or p["state"] == "COMPLETE"] + data["baselines"]
    return [p[x] for p in rows]


def _cost_figure(data: dict[str, Any]) -> go.Figure:
    """Accuracy against a cost: inference latency (batch 1 or 256) or training time, chosen in a menu."""
    axes = [x for x in COST_AXES
            if any(p[x] is not None for p in data["points"] if p["state"] == "COMPLETE")]
    rng = y_range(_core_accuracies(data), [])
    fig = go.Figure()
    groups = []
    for i, x in enumerate(axes):
        # A pruned candidate's training time is that of fewer epochs: not comparable, so not drawn on that axis.
        traces = _front_traces(data, x, data["cost_fronts"][x], rng, paper=False, visible=(i == 0), group=x,
                               pruned=x != "seconds")
        groups.append(len(traces))
        for t in traces:
            fig.add_trace(t)
    buttons = []
    start = 0
    for x, n in zip(axes, groups):
        visible = [False] * len(fig.data)
        visible[start:start + n] = [True] * n
        values = _cost_values(data, x)
        buttons.append(dict(label=COST_AXES[x].split(",")[0] + (" (batch 1)" if x == "latency_ms" else
                                                               " (batch 256)" if x == "latency_ms_batch" else ""),
                            method="update", args=[{"visible": visible}, {"xaxis": _log_axis(values, COST_AXES[x])}]))
        start += n
    first = axes[0] if axes else "seconds"
    values = _cost_values(data, first)
    menus = [dict(buttons=buttons, direction="down", x=0.07, xanchor="left", y=1.01, yanchor="bottom", showactive=True,
                  bgcolor="white", bordercolor="#999", font=dict(size=13))] if len(buttons) > 1 else []
    note = "" if "latency_ms" in axes else " (inference latency was not measured in this study)"
    _layout(fig, f"Cost front: accuracy against {COST_AXES[first].split(',')[0]}{note}",
            580, xaxis=_log_axis(values, COST_AXES[first]), yaxis=dict(title="validation accuracy", range=list(rng)),
            updatemenus=menus)
    if menus:
        fig.add_annotation(text="x-axis:", x=0, xref="paper", xanchor="left", y=1.025, yref="paper", yanchor="bottom",
                           showarrow=False, font=dict(size=13))
        fig.update_layout(margin=dict(t=95))
    return fig


def _test_vs_val(data: dict[str, Any]) -> go.Figure:
    by_number = {p["number"]: p for p in data["points"]}
    rows = [(f"{b['label']} baseline ({b['trainable_params']:,})", b) for b in data["baselines"]]
    rows += [(f"#{n} ({by_number[n]['trainable_params']:,})", by_number[n]) for n in data["front"]]
    rows.sort(key=lambda lr: lr[1]["trainable_params"])
    labels = [lab for lab, _ in rows]
    fig = go.Figure([
        go.Bar(x=labels, y=[p["val_accuracy"] for _, p in rows], name="validation (chose the front)", marker_color="#4c78a8"),
        go.Bar(x=labels, y=[p["test_accuracy"] for _, p in rows], name="test (reported only)", marker_color="#f58518"),
    ])
    vals = [p[k] for _, p in rows for k in ("val_accuracy", "test_accuracy") if p[k] is not None] or [0.0, 1.0]
    lo, hi = min(vals), max(vals)
    pad = 0.1 * max(hi - lo, 0.02)
    _layout(fig, "The front and the baselines: validation vs test accuracy, by parameters", 480, barmode="group",
            yaxis=dict(range=[max(0, lo - pad), min(1, hi + pad)], title="accuracy"),
            xaxis=dict(title="trial (trainable parameters)", tickangle=-40))
    fig.update_layout(legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return fig


def _curves(data: dict[str, Any]) -> go.Figure:
    fig = go.Figure()
    by_number = {p["number"]: p for p in data["points"]}
    front = [by_number[n] for n in data["front"]]
    rest = [p for p in data["points"] if not p["on_front"]]
    for i, p in enumerate(rest):
        pruned = p["state"] == "PRUNED"
        fig.add_trace(go.Scatter(
            x=list(range(1, len(p["val_curve"]) + 1)), y=p["val_curve"], mode="lines", legendgroup="rest",
            name="other candidates (faded; grey: pruned)", showlegend=(i == 0),
            line=dict(color=PRUNED_COLOUR if pruned else TRIAL_COLOUR, width=1), opacity=0.18,
            hovertext=_hover(p), hoverinfo="text",
        ))
    # Colour by log parameters (a colour bar reads it); hover names each member.
    logs = [math.log10(p["trainable_params"]) for p in front]
    lo_p, hi_p = (min(logs), max(logs)) if logs else (0.0, 1.0)
    span = max(hi_p - lo_p, 1e-9)
    colours = sample_colorscale("Viridis", [(v - lo_p) / span for v in logs]) if front else []
    for i, (p, colour) in enumerate(zip(front, colours)):
        fig.add_trace(go.Scatter(
            x=list(range(1, len(p["val_curve"]) + 1)), y=p["val_curve"], mode="lines+markers", legendgroup="front",
            name="a front member (colour: its parameters)", showlegend=(i == 0), line=dict(color=colour, width=2.5),
            marker=dict(size=6), hovertext=_hover(p), hoverinfo="text",
        ))
    if front:
        ticks, text = log_ticks(10**lo_p, 10**hi_p) if hi_p > lo_p else ([10**lo_p], [f"{10**lo_p:,.0f}"])
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
            marker=dict(colorscale="Viridis", cmin=lo_p, cmax=hi_p if hi_p > lo_p else lo_p + 1, color=[lo_p], showscale=True,
                        colorbar=dict(title=dict(text="front member's<br>parameters", side="top"),
                                      tickvals=[math.log10(t) for t in ticks],
                                      ticktext=text, len=0.9, thickness=16)),
        ))
    for b in data["baselines"]:
        fig.add_trace(go.Scatter(
            x=list(range(1, len(b["val_curve"]) + 1)), y=b["val_curve"], mode="lines", name=f"{b['label']} baseline",
            line=dict(color=BASELINE_COLOURS.get(b["family"], "#333"), dash="dash", width=3),
            hovertext=_hover(b), hoverinfo="text",
        ))
    finals = [v for p in front for v in p["val_curve"]] + [v for b in data["baselines"] for v in b["val_curve"]]
    lo = min(finals) if finals else 0.0
    hi = max(finals) if finals else 1.0
    _layout(fig, "Learning curves: the front's members in colour (dark = few parameters), the rest faded", 540,
            xaxis=dict(title="epoch", dtick=1),
            yaxis=dict(title="validation accuracy", range=[max(0, lo - 0.02), min(1, hi + 0.01)]))

    return fig


def _hypervolume(data: dict[str, Any]) -> go.Figure:
    hv = data["hypervolume"]
    fig = go.Figure(go.Scatter(x=[h["finished"] for h in hv], y=[h["hypervolume"] for h in hv], mode="lines+markers",
                               line=dict(color=FRONT_COLOUR)))
    _layout(fig, f"Front quality over the search: hypervolume in (log10 parameters, accuracy) up to "
                 f"{data['hypervolume_reference_params']:,} parameters", 380,
            xaxis=dict(title="finished candidates"), yaxis=dict(title="hypervolume"), showlegend=False)
    return fig


def _rank_map(data: dict[str, Any]) -> go.Figure:
    by_number = {p["number"]: p for p in data["points"]}
    front = [by_number[n] for n in data["front"]]
    slots = list(front[0]["ranks"]) if front else []

    def z(rank):
        return rank[0] if isinstance(rank, list) else rank
    one_family = len({f for p in front for f in p["families"].values()} - {"light"}) == 0
    text = [[str(p["ranks"][s]) if one_family else p["slots"][s] for s in slots] for p in front]
    fig = go.Figure(go.Heatmap(z=[[z(p["ranks"][s]) for s in slots] for p in front], x=slots,
                               y=[f"#{p['number']} ({p['trainable_params']:,})" for p in front],
                               text=text, texttemplate="%{text}", colorscale="Blues", colorbar=dict(title="rank")))
    legend = "" if one_family else " (C conv, S separable, L light k, D decef r, F linear)"
    _layout(fig, f"Which layers need rank: each front member's per-layer ranks{legend}", max(320, 90 + 30 * len(front)),
            xaxis=dict(title="layer", side="top"), yaxis=dict(title="trial (parameters)", autorange="reversed"))
    fig.update_layout(margin=dict(t=110))
    return fig


# -- HTML -------------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1320px;margin:auto;padding:12px 20px;color:#222}
h1{font-size:26px;margin:6px 0} h2{font-size:20px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:4px}
.context{color:#444;font-size:14px;margin:4px 0 12px}
.verdict{border:2px solid #2a7;border-radius:8px;background:#f3fbf6;padding:12px 18px;margin:10px 0 16px}
.verdict h2{border:0;margin:0 0 6px} .verdict .take{font-size:19px;font-weight:600;margin:4px 0 10px}
.verdict ul{margin:4px 0;padding-left:22px;font-size:15px;line-height:1.45} .verdict li{margin:3px 0}
.files{font-size:14px;margin-top:8px} .files a{margin-right:14px}
.warn{border:2px solid #c33;background:#fff3f3;padding:10px 14px;border-radius:6px;font-size:15px}
table{border-collapse:collapse;font-size:13px;margin:8px 0} td,th{border:1px solid #ccc;padding:3px 7px;text-align:right;vertical-align:top}
th{background:#f0f0f0} td.l,th.l{text-align:left} tr.baseline td{background:#fff8ec} tr.pick td{font-weight:600}
tr.dominated td{color:#777}
.badge{display:inline-block;white-space:nowrap;background:#2a7;color:#fff;border-radius:4px;padding:0 5px;margin:1px;
  font-size:11px;font-weight:600}
.badge.grey{background:#999} code{font-size:11px;color:#333;word-break:break-all}
.note{font-size:13px;color:#555} .plot{margin:6px 0 18px} td.layers{white-space:nowrap}
details summary{cursor:pointer;color:#06c;font-size:12px;white-space:nowrap} details code{display:block;max-width:380px}
"""


def _verdict_html(data: dict[str, Any]) -> str:
    v = data["verdict"]
    sentences = v["sentences"]
    take_index = next((i for i, s in enumerate(sentences) if s.startswith("Take ")), 0)
    take = sentences[take_index] if sentences else "Nothing to choose from yet."
    rest = [s for i, s in enumerate(sentences) if i != take_index]
    links = " ".join(f'<a href="{f}">{f}</a>' for f in ("trials.csv", "front.json", "summary.json", "config.json"))
    return (
        '<section class="verdict" id="verdict"><h2>Verdict: which model to take</h2>'
        f'<p class="take">{html.escape(take)}</p><ul>' + "".join(f"<li>{html.escape(s)}</li>" for s in rest) + "</ul>"
        f'<p class="files">The numbers, beside this page: {links} '
        "(<code>trials.csv</code>: one row per candidate and baseline; <code>front.json</code>: the front with each "
        "member's configuration; <code>summary.json</code>: this verdict).</p></section>"
    )


def _key(d: dict[str, Any]) -> str:
    """``trial 6`` or ``baseline separable``, for a point, a baseline or one of the verdict's choices."""
    return f"baseline {d['family']}" if d["role"] == "baseline" else f"trial {d['number']}"


def _badges(key: str, v: dict[str, Any]) -> list[str]:
    """What the verdict recommends a row for."""
    out = []
    if v["take"] and _key(v["take"]) == key:
        out.append("take: the knee" if v["take_reason"] == "knee" else "take: the most accurate")
    if v["most_accurate"] and _key(v["most_accurate"]) == key and not (v["take"] and _key(v["take"]) == key):
        out.append("most accurate")
    for b in v["budgets"]:
        for pick, what in ((b["best"], "best"), (b["best_candidate"], "best candidate")):
            if pick and _key(pick) == key and not (what == "best candidate" and b["best"] and _key(b["best"]) == key):
                out.append(f"{what} within {b['fraction'] * 100:.0f} % of Conv2d")
    return out


def _table(data: dict[str, Any]) -> str:
    """The baselines and the candidates' front, by parameters, with costs and what the verdict says of each."""
    v = data["verdict"]
    by_number = {p["number"]: p for p in data["points"]}
    conv = next((b for b in data["baselines"] if b["family"] == "conv"), None)
    dominated = {n: d["label"] for d in v["dominance"] for n in d["members"]}
    rows = [(b, "baseline") for b in data["baselines"]] + [(by_number[n], "candidate") for n in data["front"]]
    rows.sort(key=lambda r: (r[0]["trainable_params"], r[1] == "candidate"))
    run_dir = data["run_dir"] or "RUN_DIR"
    body = []
    for p, role in rows:
        badges = _badges(_key(p), v)
        notes = "".join(f'<span class="badge">{html.escape(b)}</span>' for b in badges)
        beaten = role == "candidate" and p["number"] in dominated
        if beaten:
            notes += f'<span class="badge grey">beaten by {html.escape(dominated[p["number"]])}</span>'
        if role == "baseline":
            name = f"{html.escape(p['label'])} baseline"
            cmd = f"{data['train_command']} --family {p['family']}"
        else:
            name = f"trial {p['number']}"
            n = p["number"]
            cmd = f"ranksearch export {run_dir} --trial {n} -o trial-{n}.json && ranksearch train --config trial-{n}.json"
        fewer = f"{conv['trainable_params'] / p['trainable_params']:.2f}x" if conv else ""
        cls = " ".join(c for c in (role, "pick" if badges else "", "dominated" if beaten else "") if c)
        latency = (f"{p['latency_ms']:.3f}" if p["latency_ms"] is not None else "—")
        latency_b = (f"{p['latency_ms_batch']:.4f}" if p["latency_ms_batch"] is not None else "—")
        body.append(
            f'<tr class="{cls}"><td class="l">{name}</td><td class="l">{notes}</td><td class="l layers">{html.escape(p["layers"])}</td>'
            f"<td>{p['trainable_params']:,}</td><td>{fewer}</td><td>{p['flops']:,}</td><td>{_acc(p['val_accuracy'])}</td>"
            f"<td>{_acc(p['test_accuracy'])}</td><td>{p['seconds']:.1f}</td><td>{latency}</td><td>{latency_b}</td>"
            f'<td class="l"><details><summary>command</summary><code>{html.escape(cmd)}</code></details></td></tr>'
        )
    slots = ", ".join(next(iter(by_number.values()))["ranks"]) if by_number else ""
    return (
        '<h2 id="table">The baselines and the front of candidates, by parameters</h2>'
        f'<p class="note">Ranks are listed in slot order ({html.escape(slots)}; head last). Seconds: training wall time of '
        "that network alone. Latency: measured on this machine, batch 1 (median) and per image in a batch of 256; "
        "— where the study predates the measurement. Grey rows: a baseline is no larger and at least as accurate. "
        "<i>train it</i>: the command that trains that network again.</p>"
        '<table id="front-table"><thead><tr><th class="l">network</th><th class="l">verdict</th><th class="l">layers</th>'
        "<th>params</th><th>fewer than Conv2d</th><th>FLOPs</th><th>val acc</th><th>test acc</th><th>seconds to train</th>"
        "<th>latency ms (batch 1)</th><th>ms / image (batch 256)</th><th class=\"l\">train it</th></tr></thead><tbody>"
        + "".join(body) + "</tbody></table>"
    )


def _paper_table(data: dict[str, Any]) -> str:
    rep = data["paper_reported"]
    if not rep:
        return ""
    trained = {t["rank"]: t["number"] for t in data["paper_trained"]}
    by_number = {p["number"]: p for p in data["points"]}
    base = {b["family"]: b for b in data["baselines"]}
    rows = []
    for p in rep:
        if p["family"] == "light":
            ours = by_number.get(trained.get(p["k"]))
            here = "not trained here" if ours is None else f"trial {ours['number']}" + (
                f" (pruned at epoch {ours['epochs_trained']:g})" if ours["state"] == "PRUNED" else "")
        else:
            ours = base.get(p["family"])
            here = f"{ours['label']} baseline" if ours else "not trained here"
        rows.append(
            f"<tr><td class=\"l\">{html.escape(p['label'])}</td><td>{p['paper_keras_params']:,}</td><td>{p['trainable_params']:,}</td>"
            f"<td>{p['test_accuracy']:.4f}</td><td>{p['epochs']}</td><td>{p['learning_rate']:g}</td>"
            f"<td class=\"l\">{here}</td><td>{_acc(ours['val_accuracy']) if ours else '—'}</td>"
            f"<td>{_acc(ours['test_accuracy']) if ours else '—'}</td></tr>"
        )
    return (
        f'<h2 id="paper">{PAPER_LABEL[0].upper() + PAPER_LABEL[1:]}</h2>'
        f"<p class=\"note\">{html.escape(data['paper_citation'])}, {data['paper_tables']} "
        "(<code>lightlayers/data/lightlayers-tables.csv</code>). These figures were not trained here: the authors "
        "trained in Keras with Adam at a constant learning rate and ReduceLROnPlateau watching the test loss (the test "
        "set was their validation data), an L2 penalty on LightConv2D kernels only and no shuffling, and report test "
        "accuracy after the last epoch. The plots draw them (purple diamonds) at the trainable parameters of the same "
        "network rebuilt here; the paper counts the Keras way (plus BatchNorm's moving mean and variance). The last "
        "columns are the same networks trained by this study with its own recipe.</p>"
        "<table><thead><tr><th class=\"l\">the paper's model</th><th>params (paper, Keras)</th><th>trainable params</th>"
        "<th>paper test acc</th><th>epochs</th><th>lr</th><th class=\"l\">here</th><th>val acc here</th><th>test acc here</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _paper_note(data: dict[str, Any]) -> str:
    if not data["paper_reported"]:
        return "The paper reported no results for this dataset, so none are drawn."
    return (f"Purple diamonds: {PAPER_LABEL}, {html.escape(data['paper_citation'])}, never trained here "
            "(<a href=\"#paper\">its table and recipe below</a>); purple rings: the paper's uniform Light models as "
            "this study trained them.")


def _context(data: dict[str, Any]) -> str:
    n_pruned = sum(p["state"] == "PRUNED" for p in data["points"])
    subset = f", {data['train_subset']:,} training images" if data["train_subset"] else ""
    return (f"Dataset <b>{html.escape(data['dataset'])}</b>{subset}; search space <b>{html.escape(data['family'])}</b>; "
            f"recipe {html.escape(data['recipe'])}, {data['epochs']} epochs per network. {len(data['points'])} of "
            f"{data['budget']} candidates finished ({n_pruned} pruned); front of {len(data['front'])}. The front is chosen "
            "on validation accuracy; test accuracy is shown, never used to choose.")


def render_html(data: dict[str, Any]) -> str:
    """One page, plotly.js embedded once; the report's numbers are also embedded as JSON."""
    figures = [
        ("front-params", _front_figure(data, "trainable_params", data["front"],
                                       "Pareto front: trainable parameters vs validation accuracy")),
        ("front-flops", _front_figure(data, "flops", data["flops_front"], "Pareto front: FLOPs vs validation accuracy")),
        ("front-cost", _cost_figure(data)),
        ("test-vs-val", _test_vs_val(data)),
        ("curves", _curves(data)),
        ("hypervolume", _hypervolume(data)),
        ("rank-map", _rank_map(data)),
    ]
    divs = {
        name: '<div class="plot">' + fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"plot-{name}",
                                                  config=PLOT_CONFIG) + "</div>"
        for i, (name, fig) in enumerate(figures)
    }
    title = f"ranksearch: {data['study']}"
    cost = data["verdict"]["cost"]
    wall = duration(cost["wall_seconds"]) if cost["wall_seconds"] else "not recorded"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{CSS}</style></head>
<body><h1>{html.escape(title)}</h1>
<noscript><p class="warn" id="noscript">JavaScript is off, so the plots below cannot be drawn. The verdict and the
tables are plain text and readable as they are; every number is in <a href="trials.csv">trials.csv</a> (one row per
candidate and baseline) and <a href="front.json">front.json</a> (the front, with each member's configuration) in this
page's folder, and the verdict in <a href="summary.json">summary.json</a>.</p></noscript>
<p class="context">{_context(data)} Wall time {wall}.</p>
{_verdict_html(data)}
<h2>The front</h2>
<p class="note">Hover a point for its layers, accuracies, training time and latency. Pruned candidates are drawn at
their last validation accuracy; the accuracy axis is set by the complete candidates and the baselines, so a pruned
point below it is drawn as ▼ at its floor. {_paper_note(data)}</p>
{divs['front-params']}
{_table(data)}
<h2>Other fronts: FLOPs and cost</h2>
{divs['front-flops']}
{divs['front-cost']}
<h2>Accuracy, learning and the search</h2>
{divs['test-vs-val']}
{divs['curves']}
{divs['hypervolume']}
{divs['rank-map']}
{_paper_table(data)}
<script type="application/json" id="report-data">{html.escape(json.dumps(data))}</script>
</body></html>
"""


def write_report(tables: Tables, cfg: SearchConfig, study_name: str, out_dir: str | Path, run_dir: str | None = None) -> Path:
    """Write ``out_dir/report.html`` and return its path; its retrain commands name ``run_dir``."""
    path = Path(out_dir) / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report_data(tables, cfg, study_name, run_dir)))
    return path


def write_summary(v: Verdict, out_dir: str | Path) -> Path:
    """Write ``out_dir/summary.json`` (the verdict) and return its path."""
    path = Path(out_dir) / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(v.to_dict(), indent=2) + "\n")
    return path


def rebuild_report(run_dir: str | None, storage: str | None, study_name: str | None, out: str | None) -> Path:
    """``ranksearch report``: the report of a run folder, or of a study by storage URL, written to ``out``
    with its ``summary.json`` (the verdict).

    Reads the study only: the run folder's trials.csv, front.json and config.json are left as they are.
    """
    run = open_run(run_dir, storage, study_name)
    target = Path(out or run_dir or ".")
    tables = study_tables(run.study, run.config)
    same = run.folder is not None and target.resolve() == run.folder.resolve()
    if not same or not (target / "trials.csv").exists():
        # A report folder of its own gets the tables too, and a config.json that names the study's storage.
        write_outputs(tables, run.config if same else replace(run.config, storage=run.url), target)
    write_summary(verdict(tables, replace(run.config, study_name=run.study.study_name)), target)
    return write_report(tables, run.config, run.study.study_name, target, str(target))
