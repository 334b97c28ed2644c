"""The verdict: which model to take, and why, computed from a study's rows.

A pure function of ``Tables`` and the search configuration (``verdict``); no plotting and no
storage. The report renders it at the top of the page, ``ranksearch run`` prints ``lines()`` at
its end and writes ``to_dict()`` to ``summary.json``. Every number is a row's own number (the
same values ``trials.csv`` holds); sentences round accuracies to 4 decimals.

The rules:

- *Options* are the Pareto front of complete candidates and the baselines together (fewer
  trainable parameters, higher validation accuracy): what a person can take.
- *The knee* is the option farthest above the straight line joining the options' front ends,
  with log10(trainable parameters) and validation accuracy each scaled to [0, 1] over those
  ends; ties go to fewer parameters. It needs 3 options or more and a point strictly above the
  line; otherwise there is no knee and the verdict takes the most accurate option. The verdict
  recommends the knee: beyond it each extra parameter buys less accuracy than on average.
- *Budgets*: for 10 %, 25 % and 50 % of the Conv2d baseline's trainable parameters, the most
  accurate option within the budget and the most accurate candidate within it (ties: fewer
  parameters).
- *Dominance*: a baseline dominates a candidate-front member with at least as many parameters
  and no higher validation accuracy. The range it covers runs from the baseline's parameters to
  one below the smallest front member with more parameters that is more accurate than it. A
  baseline that dominates every front member is said first.
- *Unbeaten*: a baseline (or the parent) that no complete candidate matches with no more
  parameters and at least its validation accuracy, with the most accurate candidate no larger:
  what the search did not win. Said in words where dominance has not said it already, but for
  the most accurate option of all (the saving below compares it).
- *Saving*: the most accurate complete candidate against the Conv2d baseline: parameters
  x-fold and percent, validation and test accuracy difference in points (1 point = 0.01);
  and the smallest candidate within 1 point of the Conv2d baseline's validation accuracy.
- *Test*: the largest |validation - test| over the candidate front (test is reported, never
  used to choose).
- *Latency*: for each latency objective the search minimised (``latency``: PyTorch eager;
  ``latency-onnx``: ONNX Runtime's CPU execution provider), the runtime and threads it was
  measured with and the take's figures there, beside PyTorch eager's for another runtime.
- *Cost*: wall time of the run's invocations (``not recorded`` for studies made before it
  was); training seconds summed over candidates and baselines; candidate-epochs trained of
  budget x epochs; epochs pruning saved (the epochs its pruned candidates did not train) and
  their seconds at the complete candidates' mean seconds per epoch; seconds per complete
  candidate.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ranksearch.config import SearchConfig
from ranksearch.labels import network_name
from ranksearch.objectives import get_objective
from ranksearch.results import Row, Tables, pareto_front
from ranksearch.sentences import latency_sentence, sentences
from ranksearch.verdict_parts import CLOSE_POINTS, Budget, Choice, Cost, CurveSaving, Dominance, Noise, Saving, Unbeaten, Verdict

BUDGET_FRACTIONS = (0.10, 0.25, 0.50)
CHANCE_POINTS = 2.0  # a network this close to 1 / classes has learned nothing
NOISE_POINTS = 2.0  # the take is compared, seed against seed, with named networks this close to it


# -- the rules --------------------------------------------------------------------------------
def _most_accurate(rows: list[Row]) -> Row | None:
    return max(rows, key=lambda r: (r.val_accuracy, -r.trainable_params)) if rows else None


def knee(front: list[Row]) -> Row | None:
    """The front member farthest above the chord joining the front's ends, in scaled (log10 params, val).

    ``front`` is sorted by parameters with validation accuracy rising. None with fewer than 3
    members, or when no member is strictly above the chord.
    """
    if len(front) < 3:
        return None
    x = [math.log10(r.trainable_params) for r in front]
    y = [r.val_accuracy for r in front]
    dx, dy = x[-1] - x[0], y[-1] - y[0]
    if dx <= 0 or dy <= 0:
        return None
    heights = [(yi - y[0]) / dy - (xi - x[0]) / dx for xi, yi in zip(x, y)]
    best = max(range(len(front)), key=lambda i: (round(heights[i], 12), -front[i].trainable_params))
    return front[best] if heights[best] > 1e-12 else None


def dominance(b: Row, front: list[Row], network: str | None = None) -> Dominance | None:
    """What ``b`` dominates of the candidate front; None when nothing."""
    members = [m for m in front if m.trainable_params >= b.trainable_params and m.val_accuracy <= b.val_accuracy]
    if not members:
        return None
    better = [m for m in front if m.trainable_params > b.trainable_params and m.val_accuracy > b.val_accuracy]
    high = min(m.trainable_params for m in better) - 1 if better else None
    whole = bool(front) and b.trainable_params <= front[0].trainable_params and b.val_accuracy >= max(m.val_accuracy for m in front)
    return Dominance(b.family, Choice.of(b, network).name, b.trainable_params, b.val_accuracy, b.test_accuracy,
                     [m.number for m in members], b.trainable_params, high, whole)


def unbeaten(b: Row, complete: list[Row], network: str | None = None) -> Unbeaten | None:
    """``b`` against the complete candidates no larger than it; None when one is at least as accurate."""
    no_larger = [r for r in complete if r.trainable_params <= b.trainable_params]
    best = _most_accurate(no_larger)
    if best is not None and best.val_accuracy >= b.val_accuracy:
        return None
    if best is None:
        return Unbeaten(Choice.of(b, network), None, None)
    level = any(n.level for n in noise(Choice.of(b, network), [Choice.of(best, network)]))
    return Unbeaten(Choice.of(b, network), Choice.of(best, network), 100.0 * (best.val_accuracy - b.val_accuracy), level)


def curve_params(curve: list[Row], accuracy: float) -> tuple[float | None, list[Row]]:
    """The parameters the baselines' curve needs for ``accuracy``: log10 parameters interpolated
    linearly in validation accuracy between the two curve points around it (the same point when
    one matches). (None, []) where the curve's smallest point is already more accurate (no
    saving at equal accuracy can be read) or no point reaches it."""
    if not curve or accuracy <= curve[0].val_accuracy or accuracy > curve[-1].val_accuracy:
        if curve and accuracy == curve[0].val_accuracy:
            return float(curve[0].trainable_params), [curve[0]]
        return None, []
    for lo, hi in zip(curve, curve[1:]):
        if lo.val_accuracy < accuracy <= hi.val_accuracy:
            if accuracy == hi.val_accuracy:
                return float(hi.trainable_params), [hi]
            t = (accuracy - lo.val_accuracy) / (hi.val_accuracy - lo.val_accuracy)
            log = math.log10(lo.trainable_params) + t * (math.log10(hi.trainable_params) - math.log10(lo.trainable_params))
            return 10 ** log, [lo, hi]
    return None, []


def curve_saving(r: Row, curve: list[Row], network: str | None = None) -> CurveSaving:
    params, around = curve_params(curve, r.val_accuracy)
    classes = r.spec.get("num_classes") or 0
    if params is None or (classes and r.val_accuracy <= 1 / classes + CHANCE_POINTS / 100):  # at chance buys nothing
        return CurveSaving(Choice.of(r, network), None, [], None, None)
    return CurveSaving(Choice.of(r, network), int(round(params)), [Choice.of(b, network).name for b in around],
                       params / r.trainable_params, 100.0 * (1 - r.trainable_params / params))


def on_mean(r: Row) -> Row:
    """A row confirmed with more seeds, judged on its mean validation (and test) accuracy."""
    if not r.seeds:
        return r
    vals = r.val_accuracy_seeds
    tests = [t for t in r.test_accuracy_seeds if t is not None]
    return replace(r, val_curve=r.val_curve[:-1] + [sum(vals) / len(vals)],
                   test_accuracy=sum(tests) / len(tests) if tests else r.test_accuracy)


def noise(v_take: Choice | None, named: list[Choice], also: list[tuple[Choice, Choice]] = ()) -> list[Noise]:
    """The close calls the verdict makes, judged on seeds: the take against each network named, and the pairs
    in ``also``, where the two are within ``NOISE_POINTS`` of each other and at least one was trained with
    more seeds (a network of one seed is a range of one value). Level when their validation ranges overlap."""
    out, seen = [], set()
    for a, b in [(v_take, c) for c in named] + list(also):
        if a is None or b is None or a.key == b.key or (a.val_range is None and b.val_range is None):
            continue
        pair = frozenset((a.key, b.key))
        if pair in seen or abs(a.val_accuracy - b.val_accuracy) > NOISE_POINTS / 100:
            continue
        seen.add(pair)
        (a_lo, a_hi), (b_lo, b_hi) = a.val_range or (a.val_accuracy,) * 2, b.val_range or (b.val_accuracy,) * 2
        out.append(Noise(a, b, a_lo <= b_hi and b_lo <= a_hi))
    return out


def cost(tables: Tables, cfg: SearchConfig) -> Cost:
    cands = tables.candidates
    complete = [r for r in cands if r.state == "COMPLETE"]
    pruned = [r for r in cands if r.state == "PRUNED"]
    epochs = cfg.candidate_recipe.epochs
    trained = round(sum(r.epochs_trained for r in cands), 1)
    saved = round(sum(max(0.0, epochs - r.epochs_trained) for r in pruned), 1)
    per_candidate = sum(r.seconds for r in complete) / len(complete) if complete else None
    complete_epochs = sum(r.epochs_run for r in complete)
    per_epoch = sum(r.seconds for r in complete) / complete_epochs if complete_epochs else None
    baseline_seconds = sum(b.seconds for b in tables.references)
    return Cost(
        wall_seconds=tables.wall_seconds or None,
        training_seconds=sum(r.seconds for r in cands) + baseline_seconds, baseline_seconds=baseline_seconds,
        candidates_finished=len(cands), budget=cfg.budget, complete=len(complete), pruned=len(pruned),
        epochs_per_candidate=epochs, epochs_trained=trained, epochs_budget=cfg.budget * epochs, epochs_saved=saved,
        seconds_saved=saved * per_epoch if per_epoch is not None else None,
        seconds_per_candidate=per_candidate, seconds_per_epoch=per_epoch,
        confirmation_seconds=tables.confirmation_seconds,
        confirmation_share=tables.confirmation_seconds / tables.search_seconds if tables.confirmation_seconds and tables.search_seconds else None,
    )


def verdict(tables: Tables, cfg: SearchConfig) -> Verdict:
    """Which model to take, and the plain sentences a person needs to take it."""
    network = network_name(cfg.model)
    complete = [on_mean(r) for r in tables.candidates if r.state == "COMPLETE" and r.val_accuracy is not None]
    baselines = [on_mean(b) for b in tables.references if b.val_accuracy is not None]
    front = [on_mean(r) for r in tables.front if r.val_accuracy is not None]
    options = pareto_front(complete + baselines)
    k = knee(options)
    best_option = _most_accurate(options)
    take, reason = (k, "knee") if k is not None else (best_option, "most accurate")
    # The dense network the budgets and the saving are measured against: the Conv2d baseline, else the parent.
    conv = next((b for b in baselines if b.family == "conv"), next((b for b in baselines if b.family == "parent"), None))

    budgets = []
    if conv is not None:
        for f in BUDGET_FRACTIONS:
            limit = int(f * conv.trainable_params)
            fits = [r for r in options if r.trainable_params <= limit]
            fit_cands = [r for r in complete if r.trainable_params <= limit]
            best, best_cand = _most_accurate(fits), _most_accurate(fit_cands)
            budgets.append(Budget(f, limit, Choice.of(best, network) if best else None, Choice.of(best_cand, network) if best_cand else None))

    doms = [d for d in (dominance(b, front, network) for b in baselines) if d is not None]
    # A network the most accurate one matches at its size (the parent under its fine-tuned self) adds nothing to it.
    shadowed = {b.key for b in baselines if best_option is not None and b.key != best_option.key
                and best_option.trainable_params <= b.trainable_params}
    unbeat = [u for u in (unbeaten(b, complete, network) for b in baselines if b.key not in shadowed) if u is not None]
    best_cand = _most_accurate(complete)
    saving = None
    if conv is not None and best_cand is not None:
        saving = Saving(
            Choice.of(best_cand, network), Choice.of(conv, network), conv.trainable_params / best_cand.trainable_params,
            100.0 * (1 - best_cand.trainable_params / conv.trainable_params),
            100.0 * (best_cand.val_accuracy - conv.val_accuracy),
            100.0 * (best_cand.test_accuracy - conv.test_accuracy)
            if best_cand.test_accuracy is not None and conv.test_accuracy is not None else None,
        )
    close = None
    if conv is not None:
        near = [r for r in complete if r.val_accuracy >= conv.val_accuracy - CLOSE_POINTS / 100]
        close = min(near, key=lambda r: (r.trainable_params, -r.val_accuracy)) if near else None
    gaps = [(abs(r.val_accuracy - r.test_accuracy) * 100, r.number) for r in front if r.test_accuracy is not None]
    gap, gap_number = max(gaps) if gaps else (None, None)

    curve = pareto_front(baselines)
    savings = [curve_saving(r, curve, network) for r in front]
    gains = [c for c in savings if c.times_fewer is not None and c.times_fewer > 1]
    v = Verdict(
        study=cfg.study_name, dataset=cfg.data.dataset, space=cfg.family,
        take=Choice.of(take, network) if take else None, take_reason=reason, knee=Choice.of(k, network) if k else None,
        most_accurate=Choice.of(best_option, network) if best_option else None, options=[Choice.of(r, network) for r in options],
        budgets=budgets, dominance=doms, saving=saving, close_to_conv=Choice.of(close, network) if close else None,
        test_gap=gap, test_gap_number=gap_number, cost=cost(tables, cfg),
        baseline_curve=[Choice.of(b, network) for b in curve], curve_savings=savings,
        best_curve_saving=max(gains, key=lambda c: c.times_fewer) if gains else None, unbeaten=unbeat,
    )
    named = [v.most_accurate] + [c for b in v.budgets for c in (b.best, b.best_candidate)] + v.options
    v.noise = noise(v.take, named, [(saving.candidate, saving.conv)] if saving is not None else [])
    v.conv_name = Choice.of(conv, network).name if conv is not None else v.conv_name
    v.sentences = sentences(v, conv_present=conv is not None)
    if take is not None:
        v.sentences[-1:-1] = latency_sentences(take, cfg, v.take.name)  # before the cost, which stays last
    return v


def latency_sentences(take: Row, cfg: SearchConfig, name: str) -> list[str]:
    """For each latency objective the search minimised: its runtime, its threads and the take's figures there."""
    from ranksearch.latency import LARGE_BATCH

    out = []
    for objective in (get_objective(o) for o in cfg.objectives):
        if not objective.runtime or take.value(objective.column) is None:
            continue
        threads = take.value(objective.recorded[0]) if objective.recorded else None
        eager = (take.value("latency_ms"), take.value("latency_ms_batch")) if objective.column != "latency_ms" else None
        out.append(latency_sentence(f"the take, {name},", objective.runtime, threads, take.value(objective.column),
                                    take.value(objective.columns[1][0]) if len(objective.columns) > 1 else None,
                                    LARGE_BATCH, eager))
    return out
