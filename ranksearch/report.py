"""``ranksearch report``: the study's fronts as one self-contained HTML page.

Two steps: ``report_data`` turns a study into plain numbers (tested on its own), and
``render_html`` draws them with plotly, with plotly.js embedded so the page opens offline.
"""

from __future__ import annotations

import html
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from lightlayers import reference_spec
from lightlayers.paper import PAPER_CITATION, paper_models

from ranksearch.results import Row, Tables, pareto_front, study_tables, write_outputs
from ranksearch.storage import open_run

FRONT_COLOUR, TRIAL_COLOUR, PRUNED_COLOUR, PAPER_COLOUR = "#d62728", "#1f77b4", "#9e9e9e", "#9467bd"
BASELINE_COLOURS = {"conv": "#2ca02c", "separable": "#ff7f0e"}


def _paper_points(candidates: list[Row], dataset: str) -> list[dict[str, Any]]:
    """The study's candidates that are exactly the paper's uniform-rank Light models, with the count the paper prints."""
    by_spec = {json.dumps(r.spec, sort_keys=True): r for r in candidates}
    points = []
    for family, rank, printed in paper_models(dataset):
        if family != "light":  # the paper's Conv2D and SeparableConv2D are the study's baselines
            continue
        row = by_spec.get(json.dumps(reference_spec(dataset, family, rank).to_dict(), sort_keys=True))
        if row is None:
            continue
        points.append({
            "label": f"k={rank}", "rank": rank, "number": row.number, "state": row.state,
            "trainable_params": row.trainable_params, "keras_params": row.keras_params, "paper_keras_params": printed,
            "flops": row.flops, "val_accuracy": row.val_accuracy if row.val_accuracy is not None else row.last_val_accuracy,
            "test_accuracy": row.test_accuracy,
        })
    return points


def _point(r: Row) -> dict[str, Any]:
    return {
        "number": r.number, "state": r.state, "trainable_params": r.trainable_params, "flops": r.flops,
        "val_accuracy": r.val_accuracy, "last_val_accuracy": r.last_val_accuracy, "test_accuracy": r.test_accuracy,
        "ranks": r.ranks, "families": r.families, "val_curve": r.val_curve, "on_front": r.on_front,
    }


def report_data(tables: Tables, cfg, study_name: str, run_dir: str | None) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready numbers."""
    complete = [r for r in tables.candidates if r.state == "COMPLETE"]
    return {
        "study": study_name,
        "dataset": cfg.data.dataset,
        "family": cfg.family,
        "epochs": cfg.recipe.epochs,
        "points": [_point(r) for r in tables.candidates],
        "front": [r.number for r in tables.front],
        "flops_front": [r.number for r in pareto_front(complete, x="flops")],
        "baselines": [
            {"family": b.family, "trainable_params": b.trainable_params, "flops": b.flops,
             "val_accuracy": b.val_accuracy, "test_accuracy": b.test_accuracy, "val_curve": b.val_curve}
            for b in tables.baselines
        ],
        "paper_models": _paper_points(tables.candidates, cfg.data.dataset),
        "paper_citation": PAPER_CITATION,
        "hypervolume": [{"finished": n, "hypervolume": hv} for n, hv in tables.history],
        "hypervolume_reference_params": tables.reference_params,
        "run_dir": run_dir,
    }


def _hover(p: dict[str, Any]) -> str:
    ranks = ", ".join(f"{k}={v}" for k, v in p["ranks"].items())
    test = f"{p['test_accuracy']:.4f}" if p["test_accuracy"] is not None else "n/a (pruned)"
    val = f"{p['val_accuracy']:.4f}" if p["val_accuracy"] is not None else f"{p['last_val_accuracy']:.4f} at epoch {len(p['val_curve'])} (pruned)"
    return (f"trial {p['number']} ({p['state']})<br>params {p['trainable_params']:,}<br>FLOPs {p['flops']:,}"
            f"<br>val {val}<br>test {test}<br>ranks: {ranks}")


def _paper_hover(p: dict[str, Any], citation: str) -> str:
    test = f"{p['test_accuracy']:.4f}" if p["test_accuracy"] is not None else "n/a (pruned)"
    return (f"the paper's Light {p['label']} (trial {p['number']}, {p['state']})<br>params {p['trainable_params']:,} "
            f"({p['keras_params']:,} Keras convention; {citation} prints {p['paper_keras_params']:,})"
            f"<br>FLOPs {p['flops']:,}<br>val {p['val_accuracy']:.4f}<br>test {test}")


def _front_figure(data: dict[str, Any], x: str, front_ids: list[int], title: str) -> go.Figure:
    fig = go.Figure()
    by_number = {p["number"]: p for p in data["points"]}
    for state, colour, symbol in (("COMPLETE", TRIAL_COLOUR, "circle"), ("PRUNED", PRUNED_COLOUR, "x")):
        pts = [p for p in data["points"] if p["state"] == state]
        fig.add_trace(go.Scatter(
            x=[p[x] for p in pts], y=[p["val_accuracy"] if state == "COMPLETE" else p["last_val_accuracy"] for p in pts],
            mode="markers", name="complete" if state == "COMPLETE" else "pruned (last validation accuracy)",
            marker=dict(color=colour, symbol=symbol, size=8, opacity=0.8 if state == "COMPLETE" else 0.5),
            hovertext=[_hover(p) for p in pts], hoverinfo="text",
        ))
    front = [by_number[n] for n in front_ids]
    fig.add_trace(go.Scatter(
        x=[p[x] for p in front], y=[p["val_accuracy"] for p in front], mode="lines+markers", line_shape="hv",
        name="Pareto front", line=dict(color=FRONT_COLOUR, width=2), marker=dict(color=FRONT_COLOUR, size=10),
        hovertext=[_hover(p) for p in front], hoverinfo="text",
    ))
    for b in data["baselines"]:
        fig.add_trace(go.Scatter(
            x=[b[x]], y=[b["val_accuracy"]], mode="markers+text", text=[b["family"]], textposition="top center",
            name=f"{b['family']} baseline", marker=dict(color=BASELINE_COLOURS[b["family"]], symbol="star", size=16),
            hovertext=[f"{b['family']} baseline<br>params {b['trainable_params']:,}<br>FLOPs {b['flops']:,}"
                       f"<br>val {b['val_accuracy']:.4f}<br>test {b['test_accuracy']:.4f}"], hoverinfo="text",
        ))
    paper = data["paper_models"]
    if paper:
        fig.add_trace(go.Scatter(
            x=[p[x] for p in paper], y=[p["val_accuracy"] for p in paper], mode="markers+text",
            text=[p["label"] for p in paper], textposition="bottom center",
            name=f"the paper's Light models ({data['paper_citation']}), trained here",
            marker=dict(color=PAPER_COLOUR, symbol="diamond-open", size=15, line=dict(width=2)),
            hovertext=[_paper_hover(p, data["paper_citation"]) for p in paper], hoverinfo="text",
        ))
    label = "trainable parameters" if x == "trainable_params" else "FLOPs (multiply-accumulates per image)"
    fig.update_layout(title=title, xaxis=dict(type="log", title=label), yaxis=dict(title="validation accuracy"),
                      height=480, margin=dict(l=60, r=20, t=50, b=50), legend=dict(orientation="h", y=-0.2))
    return fig


def _test_vs_val(data: dict[str, Any]) -> go.Figure:
    by_number = {p["number"]: p for p in data["points"]}
    front = [by_number[n] for n in data["front"]]
    labels = [f"#{p['number']} ({p['trainable_params']:,})" for p in front]
    fig = go.Figure([
        go.Bar(x=labels, y=[p["val_accuracy"] for p in front], name="validation (chose the front)"),
        go.Bar(x=labels, y=[p["test_accuracy"] for p in front], name="test (reported only)"),
    ])
    lo = min([p["test_accuracy"] for p in front] + [p["val_accuracy"] for p in front] + [1.0])
    fig.update_layout(title="Front members: validation vs test accuracy", barmode="group", height=400,
                      yaxis=dict(range=[max(0, lo - 0.05), 1], title="accuracy"), xaxis=dict(title="trial (parameters)"))
    return fig


def _curves(data: dict[str, Any]) -> go.Figure:
    fig = go.Figure()
    for p in data["points"]:
        pruned = p["state"] == "PRUNED"
        fig.add_trace(go.Scatter(
            x=list(range(1, len(p["val_curve"]) + 1)), y=p["val_curve"], mode="lines+markers", showlegend=False,
            line=dict(color=PRUNED_COLOUR if pruned else (FRONT_COLOUR if p["on_front"] else TRIAL_COLOUR)),
            opacity=0.25 if pruned else 0.8, hovertext=_hover(p), hoverinfo="text",
        ))
    for b in data["baselines"]:
        fig.add_trace(go.Scatter(x=list(range(1, len(b["val_curve"]) + 1)), y=b["val_curve"], mode="lines",
                                 name=f"{b['family']} baseline", line=dict(color=BASELINE_COLOURS[b["family"]], dash="dash", width=3)))
    fig.update_layout(title="Learning curves (red: front, blue: complete, grey: pruned)", height=420,
                      xaxis=dict(title="epoch", dtick=1), yaxis=dict(title="validation accuracy"))
    return fig


def _hypervolume(data: dict[str, Any]) -> go.Figure:
    hv = data["hypervolume"]
    fig = go.Figure(go.Scatter(x=[h["finished"] for h in hv], y=[h["hypervolume"] for h in hv], mode="lines+markers"))
    fig.update_layout(
        title=f"Front quality: hypervolume in (log10 parameters, accuracy) up to {data['hypervolume_reference_params']:,} parameters",
        height=360, xaxis=dict(title="finished candidates"), yaxis=dict(title="hypervolume"),
    )
    return fig


def _rank_map(data: dict[str, Any]) -> go.Figure:
    by_number = {p["number"]: p for p in data["points"]}
    front = [by_number[n] for n in data["front"]]
    slots = list(front[0]["ranks"]) if front else []
    z = [[p["ranks"][s] for s in slots] for p in front]
    text = [[f"{p['families'][s][0]}{p['ranks'][s]}" if data["family"] == "mixed" else str(p["ranks"][s]) for s in slots] for p in front]
    fig = go.Figure(go.Heatmap(z=z, x=slots, y=[f"#{p['number']} ({p['trainable_params']:,})" for p in front],
                               text=text, texttemplate="%{text}", colorscale="Blues", colorbar=dict(title="rank")))
    fig.update_layout(title="Which layers need rank: per-layer ranks of the front's members", height=max(300, 60 + 28 * len(front)),
                      xaxis=dict(title="layer"), yaxis=dict(title="trial (parameters)", autorange="reversed"))
    return fig


def _table(data: dict[str, Any]) -> str:
    by_number = {p["number"]: p for p in data["points"]}
    run_dir = data["run_dir"] or "RUN_DIR"
    rows = []
    for n in data["front"]:
        p = by_number[n]
        ranks = " ".join(f"{v}" for v in p["ranks"].values())
        cmd = f"ranksearch export {run_dir} --trial {n} -o trial-{n}.json && ranksearch train --config trial-{n}.json"
        rows.append(
            f"<tr><td>{n}</td><td>{p['trainable_params']:,}</td><td>{p['flops']:,}</td><td>{p['val_accuracy']:.4f}</td>"
            f"<td>{p['test_accuracy']:.4f}</td><td>{html.escape(ranks)}</td><td><code>{html.escape(cmd)}</code></td></tr>"
        )
    slots = ", ".join(next(iter(by_number.values()))["ranks"]) if by_number else ""
    return (
        "<h2>Front members, by parameters</h2>"
        f"<p>Ranks in slot order: {html.escape(slots)}.</p>"
        "<table><thead><tr><th>trial</th><th>params</th><th>FLOPs</th><th>val acc</th><th>test acc</th><th>ranks</th>"
        "<th>retrain</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _paper_sentence(data: dict[str, Any]) -> str:
    if not data["paper_models"]:
        return ""
    return (f"Purple diamonds: the uniform-rank Light models reported by {html.escape(data['paper_citation'])}, "
            "trained here with the same data, recipe and epochs as every candidate (hover for the count the paper prints).")


def render_html(data: dict[str, Any]) -> str:
    """One page, plotly.js embedded once; the report's numbers are also embedded as JSON."""
    figures = [
        _front_figure(data, "trainable_params", data["front"], "Pareto front: trainable parameters vs validation accuracy"),
        _front_figure(data, "flops", data["flops_front"], "Pareto front: FLOPs vs validation accuracy"),
        _test_vs_val(data),
        _curves(data),
        _hypervolume(data),
        _rank_map(data),
    ]
    divs = [fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"plot{i}") for i, fig in enumerate(figures)]
    n_pruned = sum(p["state"] == "PRUNED" for p in data["points"])
    title = f"ranksearch: {data['study']}"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}} code{{font-size:11px}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Dataset <b>{html.escape(data['dataset'])}</b>, family <b>{html.escape(data['family'])}</b>, {data['epochs']} epochs per candidate;
{len(data['points'])} finished candidates ({n_pruned} pruned), front of {len(data['front'])}.
The front is chosen on validation accuracy; test accuracy is shown, never used to choose.
{_paper_sentence(data)}</p>
{''.join(divs)}
{_table(data)}
<script type="application/json" id="report-data">{html.escape(json.dumps(data))}</script>
</body></html>
"""


def write_report(tables: Tables, cfg, study_name: str, out_dir: str | Path, run_dir: str | None = None) -> Path:
    """Write ``out_dir/report.html`` and return its path; its retrain commands name ``run_dir``."""
    path = Path(out_dir) / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report_data(tables, cfg, study_name, run_dir)))
    return path


def rebuild_report(run_dir: str | None, storage: str | None, study_name: str | None, out: str | None) -> Path:
    """``ranksearch report``: the report of a run folder, or of a study by storage URL, written to ``out``.

    Reads only: the run folder's trials.csv, front.json and config.json are left as they are.
    """
    run = open_run(run_dir, storage, study_name)
    target = Path(out or run_dir or ".")
    tables = study_tables(run.study, run.config)
    same = run.folder is not None and target.resolve() == run.folder.resolve()
    if not same or not (target / "trials.csv").exists():
        # A report folder of its own gets the tables too, and a config.json that names the study's storage.
        write_outputs(tables, run.config if same else replace(run.config, storage=run.url), target)
    return write_report(tables, run.config, run.study.study_name, target, str(target))
