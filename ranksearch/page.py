"""The report's page: one self-contained HTML file, the verdict first, then the figures and tables.

plotly.js is embedded once, so the page opens offline; with JavaScript off the verdict and the
tables still read, and the numbers are embedded as JSON (``report-data``).
"""

from __future__ import annotations

import html
import json
from typing import Any

from ranksearch import figures
from ranksearch.figures import PAPER_LABEL
from ranksearch.labels import acc as _acc
from ranksearch.labels import duration, epochs

PLOT_CONFIG = {"responsive": True, "displaylogo": False}


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
.badge.grey{background:#999} .badge.warn{background:#c60} code{font-size:11px;color:#333;word-break:break-all}
.note{font-size:13px;color:#555} .plot{margin:6px 0 18px} td.layers{min-width:14em} .wide{overflow-x:auto}
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
    """``trial 6``, ``baseline separable`` or ``parent``, for a point, a baseline or one of the verdict's choices."""
    if d["role"] == "candidate":
        return f"trial {d['number']}"
    return "parent" if d["role"] == "parent" else f"baseline {d['family']}"


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


def _seeds(p: dict[str, Any], which: str) -> str:
    """An accuracy, or, for a network trained again with more seeds, its mean and range over them."""
    values = [v for v in p.get(f"{which}_accuracy_seeds") or [] if v is not None]
    if len(values) < 2:
        return _acc(p[f"{which}_accuracy"])
    mean = sum(values) / len(values)
    return f"{mean:.4f} &plusmn; {(max(values) - min(values)) / 2:.4f}<br><span class=\"note\">{len(values)} seeds; &plusmn; half their range</span>"


def _latency_columns(onnx: bool) -> list[tuple[str, int]]:
    """The table's latency columns and their digits: PyTorch eager's, then ONNX Runtime's where measured."""
    cols = [("latency_ms", 3), ("latency_ms_batch", 4)]
    return cols + [("latency_onnx_ms", 3), ("latency_onnx_ms_batch", 4)] if onnx else cols


def _ms(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _table(data: dict[str, Any]) -> str:
    """The baselines and the candidates' front, by parameters, with costs and what the verdict says of each."""
    v = data["verdict"]
    by_number = {p["number"]: p for p in data["points"]}
    conv = next((b for b in data["baselines"] if b["family"] == "conv"), None)
    dominated = {n: d["label"] for d in v["dominance"] for n in d["members"]}
    unbeaten = {_key(u["baseline"]) for u in v.get("unbeaten", [])}
    rows = [(b, "baseline") for b in data["baselines"]] + [(by_number[n], "candidate") for n in data["front"]]
    rows.sort(key=lambda r: (r[0]["trainable_params"], r[1] == "candidate"))
    run_dir = data["run_dir"] or "RUN_DIR"
    onnx = any(p.get("latency_onnx_ms") is not None for p, _ in rows)  # the search measured ONNX Runtime's too
    body = []
    for p, role in rows:
        badges = _badges(_key(p), v)
        notes = "".join(f'<span class="badge">{html.escape(b)}</span>' for b in badges)
        beaten = role == "candidate" and p["number"] in dominated
        if beaten:
            notes += f'<span class="badge grey">beaten by {html.escape(dominated[p["number"]])}</span>'
        if role == "baseline" and _key(p) in unbeaten:
            notes += '<span class="badge warn">no candidate this small is as accurate</span>'
        if role == "baseline":  # exported, so it trains as the search trained it (inherited, thinner, its epochs)
            flag = p["family"]  # the parent's is "parent"
            name = "the parent" if p["role"] == "parent" else html.escape(p["label"])
            if p.get("lineage"):
                name += f"<br><span class=\"note\">{html.escape(p['lineage'])}</span>"
            cmd = (f"ranksearch export {run_dir} --baseline {flag} -o {flag}.json && ranksearch train --config {flag}.json"
                   if not (p.get("lineage") or "").startswith("your network as given") else "your --weights file, as given")
        else:
            name = f"trial {p['number']}"
            n = p["number"]
            cmd = f"ranksearch export {run_dir} --trial {n} -o trial-{n}.json && ranksearch train --config trial-{n}.json"
        fewer = f"{conv['trainable_params'] / p['trainable_params']:.2f}x" if conv else ""
        cls = " ".join(c for c in (role, "pick" if badges else "", "dominated" if beaten else "") if c)
        latency = "".join(f"<td>{_ms(p.get(c), digits)}</td>" for c, digits in _latency_columns(onnx))
        body.append(
            f'<tr class="{cls}"><td class="l">{name}</td><td class="l">{notes}</td><td class="l layers">{html.escape(p["layers"])}</td>'
            f"<td>{p['trainable_params']:,}</td><td>{fewer}</td><td>{p['flops']:,}</td><td>{_seeds(p, 'val')}</td>"
            f"<td>{_seeds(p, 'test')}</td><td>{p['seconds']:.1f}</td>{latency}"
            f'<td class="l"><details><summary>command</summary><code>{html.escape(cmd)}</code></details></td></tr>'
        )
    slots = ", ".join(next(iter(by_number.values()))["ranks"]) if by_number else ""
    return (
        '<h2 id="table">The baselines and the front of candidates, by parameters</h2>'
        f'<p class="note">Ranks are listed in slot order ({html.escape(slots)}; head last). Seconds: training wall time of '
        "that network alone. Latency: PyTorch eager, measured on this machine, batch 1 (median) and per image in a batch "
        "of 256" + (", and the same in ONNX Runtime (CPU), which this search measured too; " if onnx else "; ") +
        "— where the study predates the measurement. Grey rows: a baseline is no larger and at least as accurate. "
        "Orange: a baseline the search did not beat at its size. "
        "<i>train it</i>: the command that trains that network again.</p>"
        '<div class="wide"><table id="front-table"><thead><tr><th class="l">network</th><th class="l">verdict</th><th class="l">layers</th>'
        "<th>params</th><th>fewer than Conv2d</th><th>FLOPs</th><th>val acc</th><th>test acc</th><th>seconds to train</th>"
        "<th>latency ms (batch 1)</th><th>ms / image (batch 256)</th>"
        + ("<th>ONNX Runtime ms (batch 1)</th><th>ONNX Runtime ms / image (batch 256)</th>" if onnx else "")
        + "<th class=\"l\">train it</th></tr></thead><tbody>"
        + "".join(body) + "</tbody></table></div>"
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
            here = ours['label'] if ours else "not trained here"
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
        "<div class=\"wide\"><table><thead><tr><th class=\"l\">the paper's model</th><th>params (paper, Keras)</th><th>trainable params</th>"
        "<th>paper test acc</th><th>epochs</th><th>lr</th><th class=\"l\">here</th><th>val acc here</th><th>test acc here</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )


def _paper_note(data: dict[str, Any]) -> str:
    if not data["paper_reported"]:
        return "The paper reported no results for this dataset, so none are drawn."
    return (f"Purple diamonds: {PAPER_LABEL}, {html.escape(data['paper_citation'])}, never trained here "
            "(<a href=\"#paper\">its table and recipe below</a>); purple rings: the paper's uniform Light models as "
            "this study trained them.")


def _lineage(data: dict[str, Any]) -> str:
    if data.get("start") == "parent":
        parent = ("the parent is your network as given, its trained weights not retrained" if data["parent_epochs"] is None
                  else f"the parent (the dense network) trained once, {epochs(data['parent_epochs'])} with the "
                       f"{html.escape(data['recipe'])} recipe")
        return f"{parent}; every candidate inherits its weights, factorised layer by layer, and fine-tunes {epochs(data['epochs'])}"
    return f"recipe {html.escape(data['recipe'])}, {epochs(data['epochs'])} per network from scratch"


def _context(data: dict[str, Any]) -> str:
    n_pruned = sum(p["state"] == "PRUNED" for p in data["points"])
    subset = f", {data['train_subset']:,} training images" if data["train_subset"] else ""
    return (f"Dataset <b>{html.escape(data['dataset'])}</b>{subset}; search space <b>{html.escape(data['family'])}</b>; "
            f"{_lineage(data)}. {len(data['points'])} of "
            f"{data['budget']} candidates finished ({n_pruned} pruned); front of {len(data['front'])}. The front is chosen "
            "on validation accuracy; test accuracy is shown, never used to choose.")


def render_html(data: dict[str, Any]) -> str:
    """One page, plotly.js embedded once; the report's numbers are also embedded as JSON."""
    drawn = [
        ("front-params", figures.front_figure(data, "trainable_params", data["front"],
                                              "Pareto front: trainable parameters vs validation accuracy")),
        ("front-costs", figures.cost_figure(data)),
        ("test-vs-val", figures.test_vs_val(data)),
        ("curves", figures.curves(data)),
        ("hypervolume", figures.hypervolume(data)),
        ("rank-map", figures.rank_map(data)),
    ]
    divs = {
        name: '<div class="plot">' + fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"plot-{name}",
                                                  config=PLOT_CONFIG) + "</div>"
        for i, (name, fig) in enumerate(drawn)
    }
    title = f"ranksearch: {data['study']}"
    cost = data["verdict"]["cost"]
    wall = duration(cost["wall_seconds"]) if cost["wall_seconds"] else "not recorded"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{CSS}</style><noscript><style>.plot {{ display: none; }}</style></noscript></head>
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
<h2>Other fronts: FLOPs, latency and training time</h2>
{divs['front-costs']}
<h2>Accuracy, learning and the search</h2>
{divs['test-vs-val']}
{divs['curves']}
{divs['hypervolume']}
{divs['rank-map']}
{_paper_table(data)}
<script type="application/json" id="report-data">{html.escape(json.dumps(data))}</script>
</body></html>
"""


