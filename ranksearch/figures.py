"""The report's plots: plotly figures drawn from ``report_data``'s numbers, nothing else."""

from __future__ import annotations

import html
import math
import re
from typing import Any

import plotly.graph_objects as go
from plotly.colors import sample_colorscale

FRONT_COLOUR, TRIAL_COLOUR, PRUNED_COLOUR, PAPER_COLOUR = "#d62728", "#1f77b4", "#8c8c8c", "#7b3fb8"
BASELINE_COLOURS = {"conv": "#2ca02c", "separable": "#ff7f0e", "parent": "#17becf"}
PAPER_LABEL = "reported by the paper (its recipe, test set)"
PAPER_TRAINED_LABEL = "the paper's uniform Light models, trained here"


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
    who = f"trial {p['number']}" if p["role"] == "candidate" else p["label"]
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
    widths: dict[str, list[dict[str, Any]]] = {}
    for b in data["baselines"]:
        if b["role"] == "baseline" and b[x] is not None:
            widths.setdefault(b["family"].partition("@")[0], []).append(b)
    for family, members in widths.items():  # a family at several widths: what thinning the network buys
        if len(members) < 2:
            continue
        members = sorted(members, key=lambda b: b[x])
        traces.append(go.Scatter(
            x=[b[x] for b in members], y=[b["val_accuracy"] for b in members], mode="lines",
            line=dict(color=_colour(members[0]), dash="dot", width=2), hoverinfo="skip", visible=visible,
            name=f"{members[-1]['label'].removesuffix(' baseline').split(' x')[0]} at other widths (thinner networks)",
            legendgroup=group + family + "-curve",
        ))
    for b in data["baselines"]:
        if b[x] is None:
            continue
        traces.append(go.Scatter(
            x=[b[x]], y=[b["val_accuracy"]], mode="markers+text", text=[b["label"]], textposition="top center",
            textfont=dict(color=_colour(b), size=13),
            name=b["label"], marker=dict(color=_colour(b), symbol="star", size=18,
                                                       line=dict(color="white", width=1)),
            hovertext=[_hover(b)], hoverinfo="text", visible=visible, legendgroup=group + b["family"], cliponaxis=False,
        ))
    confirmed = [p for p in data["points"] + data["baselines"] if len(p.get("val_accuracy_seeds") or []) > 1 and p[x] is not None]
    if confirmed:
        means = [sum(p["val_accuracy_seeds"]) / len(p["val_accuracy_seeds"]) for p in confirmed]
        traces.append(go.Scatter(
            x=[p[x] for p in confirmed], y=means, mode="markers", name="trained again with more seeds: mean, bars the range",
            marker=dict(color="black", symbol="line-ew-open", size=14, line=dict(width=2)),
            error_y=dict(type="data", symmetric=False, color="black", thickness=1.5, width=6,
                         array=[max(p["val_accuracy_seeds"]) - m for p, m in zip(confirmed, means)],
                         arrayminus=[m - min(p["val_accuracy_seeds"]) for p, m in zip(confirmed, means)]),
            hovertext=[f"{p.get('label') or 'trial ' + str(p['number'])}: validation over {len(p['val_accuracy_seeds'])} seeds "
                       + ", ".join(f"{v:.4f}" for v in p["val_accuracy_seeds"]) for p in confirmed],
            hoverinfo="text", visible=visible, legendgroup=group + "seeds",
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


def front_figure(data: dict[str, Any], x: str, front_ids: list[int], title: str) -> go.Figure:
    paper = [p["test_accuracy"] for p in data["paper_reported"]]
    rng = y_range(_core_accuracies(data), paper)
    fig = go.Figure(_front_traces(data, x, front_ids, rng, paper=True))
    xs = [p[x] for p in data["points"]] + [b[x] for b in data["baselines"]] + [p[x] for p in data["paper_reported"]]
    label = f"{data['axes'].get(x, x)} (log scale)"
    _layout(fig, title, 600, xaxis=_log_axis(xs, label),
            yaxis=dict(title="accuracy: validation (paper ◆: test)", range=list(rng)))
    return fig


def _colour(b: dict[str, Any]) -> str:
    """A baseline's colour by its family (conv@0.5 is a conv); the parent's its own."""
    return BASELINE_COLOURS.get(b["family"].partition("@")[0], "#333")


def _menu_label(title: str) -> str:
    """``inference latency (batch 1)`` from ``inference latency, ms per image at batch 1 (median)``."""
    head, _, rest = title.partition(",")
    batch = re.search(r"batch (\d+)", rest)
    return head.split(":")[0] + (f" (batch {batch[1]})" if batch else "")


def _cost_values(data: dict[str, Any], x: str) -> list[float]:
    rows = [p for p in data["points"] if x != "seconds" or p["state"] == "COMPLETE"] + data["baselines"]
    return [p.get(x) for p in rows]


def cost_figure(data: dict[str, Any]) -> go.Figure:
    """Accuracy against each other cost (FLOPs, inference latency at batch 1 and 256, any other
    registered objective, training time), the axis chosen in a menu."""
    titles = data["cost_axes"]
    axes = [x for x in titles
            if any(p.get(x) is not None for p in data["points"] if p["state"] == "COMPLETE")]
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
        buttons.append(dict(label=_menu_label(titles[x]), method="update",
                            args=[{"visible": visible}, {"xaxis": _log_axis(values, titles[x])}]))
        start += n
    first = axes[0] if axes else "seconds"
    titles.setdefault(first, first)
    values = _cost_values(data, first)
    menus = [dict(buttons=buttons, direction="down", x=0.07, xanchor="left", y=1.01, yanchor="bottom", showactive=True,
                  bgcolor="white", bordercolor="#999", font=dict(size=13))] if len(buttons) > 1 else []
    note = "" if "latency_ms" in axes else " (inference latency was not measured in this study)"
    _layout(fig, f"Other fronts: accuracy against {_menu_label(titles[first])}{note}",
            580, xaxis=_log_axis(values, titles[first]), yaxis=dict(title="validation accuracy", range=list(rng)),
            updatemenus=menus)
    if menus:
        fig.add_annotation(text="x-axis:", x=0, xref="paper", xanchor="left", y=1.025, yref="paper", yanchor="bottom",
                           showarrow=False, font=dict(size=13))
        fig.update_layout(margin=dict(t=95))
    return fig


def test_vs_val(data: dict[str, Any]) -> go.Figure:
    by_number = {p["number"]: p for p in data["points"]}
    rows = [(f"{b['label']} ({b['trainable_params']:,})", b) for b in data["baselines"]]
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


def _epochs(p: dict[str, Any], data: dict[str, Any]) -> list[int]:
    """The x of each point of a curve along its lineage: an inherited network's fine-tune follows the epochs its
    parent trained here (a parent given as weights is one point at 0, as given)."""
    parent = next((b for b in data["baselines"] if b["role"] == "parent"), None)
    given = parent is not None and (parent.get("lineage") or "").startswith("your network as given")
    inherited = (p["role"] == "candidate" and data.get("start") == "parent") or (p.get("lineage") or "").startswith("inherits")
    first = 0 if p["role"] == "parent" and given else 1 + (len(parent["val_curve"]) if inherited and parent and not given else 0)
    return list(range(first, first + len(p["val_curve"])))


def curves(data: dict[str, Any]) -> go.Figure:
    fig = go.Figure()
    by_number = {p["number"]: p for p in data["points"]}
    front = [by_number[n] for n in data["front"]]
    rest = [p for p in data["points"] if not p["on_front"]]
    for i, p in enumerate(rest):
        pruned = p["state"] == "PRUNED"
        fig.add_trace(go.Scatter(
            x=_epochs(p, data), y=p["val_curve"], mode="lines" if len(p["val_curve"]) > 1 else "markers",
            legendgroup="rest", name="other candidates (faded; grey: pruned)", showlegend=(i == 0),
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
            x=_epochs(p, data), y=p["val_curve"], mode="lines+markers", legendgroup="front",
            name="a front member (colour: its parameters)", showlegend=(i == 0), line=dict(color=colour, width=2.5),
            marker=dict(size=6), hovertext=_hover(p), hoverinfo="text",
        ))
    if front:
        ticks, text = log_ticks(10**lo_p, 10**hi_p) if hi_p > lo_p else ([10**lo_p], [f"{10**lo_p:,.0f}"])
        fig.add_trace(go.Scatter(
            x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
            marker=dict(colorscale="Viridis", cmin=lo_p, cmax=hi_p if hi_p > lo_p else lo_p + 1, color=[lo_p], showscale=True,
                        colorbar=dict(title=dict(text="front member's<br>parameters", side="top"),
                                      tickvals=[math.log10(t) for t in ticks], ticktext=text, len=0.9, thickness=16)),
        ))
    for b in data["baselines"]:
        fig.add_trace(go.Scatter(
            x=_epochs(b, data), y=b["val_curve"], mode="lines+markers", name=b["label"],
            line=dict(color=_colour(b), dash="dash", width=3), marker=dict(size=9),  # a one-epoch fine-tune is a point
            hovertext=_hover(b), hoverinfo="text",
        ))
    finals = [v for p in front for v in p["val_curve"]] + [v for b in data["baselines"] for v in b["val_curve"]]
    lo = min(finals) if finals else 0.0
    hi = max(finals) if finals else 1.0
    _layout(fig, "Learning curves: the front's members in colour (dark = few parameters), the rest faded", 540,
            xaxis=dict(title="epoch (an inherited network's fine-tune after its parent's epochs)"
                  if data.get("start") == "parent" else "epoch", dtick=1),
            yaxis=dict(title="validation accuracy", range=[max(0, lo - 0.02), min(1, hi + 0.01)]))
    return fig


def hypervolume(data: dict[str, Any]) -> go.Figure:
    hv = data["hypervolume"]
    fig = go.Figure(go.Scatter(x=[h["finished"] for h in hv], y=[h["hypervolume"] for h in hv], mode="lines+markers",
                               line=dict(color=FRONT_COLOUR)))
    _layout(fig, f"Front quality over the search: hypervolume in (log10 parameters, accuracy) up to "
                 f"{data['hypervolume_reference_params']:,} parameters", 380,
            xaxis=dict(title="finished candidates"), yaxis=dict(title="hypervolume"), showlegend=False)
    return fig


def rank_map(data: dict[str, Any]) -> go.Figure:
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


