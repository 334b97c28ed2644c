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
- *Saving*: the most accurate complete candidate against the Conv2d baseline: parameters
  x-fold and percent, validation and test accuracy difference in points (1 point = 0.01);
  and the smallest candidate within 1 point of the Conv2d baseline's validation accuracy.
- *Test*: the largest |validation - test| over the candidate front (test is reported, never
  used to choose).
- *Cost*: wall time of the run's invocations (``not recorded`` for studies made before it
  was); training seconds summed over candidates and baselines; candidate-epochs trained of
  budget x epochs; epochs pruning saved (the epochs its pruned candidates did not train) and
  their seconds at the complete candidates' mean seconds per epoch; seconds per complete
  candidate.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import asdict, dataclass, field
from typing import Any

from lightlayers import ModelSpec, get_family

from ranksearch.config import SearchConfig
from ranksearch.results import Row, Tables, pareto_front

BUDGET_FRACTIONS = (0.10, 0.25, 0.50)
CLOSE_POINTS = 1.0  # "within 1 point" of the Conv2d baseline's validation accuracy


# -- labels -----------------------------------------------------------------------------------
def baseline_label(family: str) -> str:
    """``Conv2d``, ``SeparableConv2d``: the class a person knows the baseline by."""
    if family == "given":  # a user's network with its own trained weights, measured before any training
        return "as-given (trained weights, not retrained)"
    return get_family("conv", family).layer.removeprefix("nn.")


def _parse_spec(spec: dict[str, Any]):
    """A reference network's spec or, where lightlayers has them, a user's network's spec."""
    try:
        from lightlayers import spec_from_dict
    except ImportError:  # a lightlayers without user networks
        return ModelSpec.from_dict(spec)
    return spec_from_dict(spec)


def slot_choices(spec: dict[str, Any]) -> list[tuple[str, str, Any, tuple[int, ...]]]:
    """(slot name, kind, family, ranks) of every slot the spec sets, in forward order."""
    model = _parse_spec(spec)
    out = []
    for slot in model.slots():
        choice = model.layers.get(slot.name)
        if choice is not None:
            out.append((slot.name, slot.kind, choice.family_for(slot), choice.ranks(slot)))
    return out


def layers_label(spec: dict[str, Any]) -> str:
    """The layers of a network in a few words, from the family registry.

    ``light k=5 5 2 6 6 9; head light k=8`` when every conv slot has one ranked family,
    ``separable; head linear`` when every conv slot is the same layer, otherwise each conv
    slot's label: ``conv, light k=3, decef r=2, ...; head linear``.
    """
    choices = slot_choices(spec)
    convs = [(fam, r) for _, kind, fam, r in choices if kind != "dense"]
    dense = [(name, fam, r) for name, kind, fam, r in choices if kind == "dense"]
    names = {fam.name for fam, _ in convs}
    if len(names) == 1 and convs[0][0].takes_rank:
        fam = convs[0][0]
        per_name = [" ".join(str(r[i]) for _, r in convs) for i in range(len(fam.rank_names))]
        conv_text = f"{fam.name} " + " ".join(f"{n}={v}" for n, v in zip(fam.rank_names, per_name))
    elif len(names) == 1:
        conv_text = convs[0][0].name
    else:
        conv_text = ", ".join(fam.label(r) for fam, r in convs)
    if len(dense) == 1 and dense[0][0] == "head":
        dense_text = f"head {dense[0][1].label(dense[0][2])}"
    else:
        dense_text = ", ".join(f"{name} {fam.label(r)}" for name, fam, r in dense)
    return "; ".join(t for t in (conv_text, dense_text) if t)


def _acc(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _points(diff: float | None) -> str:
    return "n/a" if diff is None else f"{abs(diff):.2f} points"


def duration(seconds: float) -> str:
    """``45 s``, ``13 min 27 s``, ``2 h 05 min``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


# -- the parts of a verdict -------------------------------------------------------------------
@dataclass
class Choice:
    """One network a person could take: a candidate (by trial number) or a baseline."""

    role: str  # candidate | baseline
    number: int | None
    family: str  # the baseline's family, or the search space of a candidate
    name: str  # "trial 6", "the SeparableConv2d baseline"
    layers: str
    trainable_params: int
    keras_params: int
    flops: int
    val_accuracy: float
    test_accuracy: float | None
    seconds: float
    latency_ms: float | None
    latency_ms_batch: float | None

    @classmethod
    def of(cls, r: Row) -> "Choice":
        name = f"the {baseline_label(r.family)} baseline" if r.role == "baseline" else f"trial {r.number}"
        return cls(r.role, r.number, r.family, name, layers_label(r.spec), r.trainable_params, r.keras_params,
                   r.flops, r.val_accuracy, r.test_accuracy, r.seconds, r.latency_ms, r.latency_ms_batch)

    @property
    def key(self) -> str:
        """``trial 6`` or ``baseline separable``: how the report's table names a row."""
        return f"baseline {self.family}" if self.role == "baseline" else f"trial {self.number}"

    def brief(self) -> str:
        """``trial 6 (11,776 parameters, val 0.8745, test 0.8720)``."""
        return f"{self.name} ({self.trainable_params:,} parameters, val {_acc(self.val_accuracy)}, test {_acc(self.test_accuracy)})"


@dataclass
class Budget:
    fraction: float
    max_params: int  # floor(fraction x the Conv2d baseline's trainable parameters)
    best: Choice | None  # most accurate option (candidate or baseline) within it
    best_candidate: Choice | None  # most accurate candidate within it


@dataclass
class Dominance:
    baseline: str  # family
    label: str  # Conv2d, SeparableConv2d
    trainable_params: int
    val_accuracy: float
    test_accuracy: float | None
    members: list[int]  # trial numbers of the candidate-front members it dominates
    low: int  # it is at least as accurate as every candidate with low..high parameters
    high: int | None  # None: every candidate from low parameters up
    whole_front: bool  # no larger than the smallest front member and at least as accurate as the best


@dataclass
class Saving:
    """The most accurate candidate against the Conv2d baseline."""

    candidate: Choice
    conv: Choice
    times_fewer: float  # conv params / candidate params
    percent_fewer: float
    val_points: float  # 100 x (candidate - conv) validation accuracy: negative = the candidate is less accurate
    test_points: float | None


@dataclass
class Cost:
    wall_seconds: float | None  # every `ranksearch run` of the study; None: not recorded
    training_seconds: float  # summed over finished candidates and baselines
    baseline_seconds: float
    candidates_finished: int
    budget: int
    complete: int
    pruned: int
    epochs_per_candidate: int
    epochs_trained: float  # candidate-epochs (a stop within an epoch counts its part)
    epochs_budget: int  # budget x epochs
    epochs_saved: float  # epochs the pruned candidates did not train
    seconds_saved: float | None  # epochs_saved x the complete candidates' mean seconds per epoch
    seconds_per_candidate: float | None  # mean over complete candidates
    seconds_per_epoch: float | None


@dataclass
class Verdict:
    study: str
    dataset: str
    space: str
    take: Choice | None  # the recommendation: the knee, else the most accurate option
    take_reason: str  # knee | most accurate
    knee: Choice | None
    most_accurate: Choice | None
    options: list[Choice]  # the front of candidates and baselines, by parameters
    budgets: list[Budget]
    dominance: list[Dominance]
    saving: Saving | None
    close_to_conv: Choice | None  # the smallest candidate within CLOSE_POINTS of the Conv2d baseline
    test_gap: float | None  # largest |val - test| over the candidate front, in points
    test_gap_number: int | None
    cost: Cost
    sentences: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: summary.json."""
        return asdict(self)

    def lines(self, width: int = 100) -> list[str]:
        """The verdict for a terminal: a heading, then one wrapped paragraph per sentence."""
        out = [f"Verdict for {self.study} ({self.dataset}):"]
        for s in self.sentences:
            out += textwrap.wrap(s, width, initial_indent="  - ", subsequent_indent="    ")
        return out


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


def dominance(b: Row, front: list[Row]) -> Dominance | None:
    """What ``b`` dominates of the candidate front; None when nothing."""
    members = [m for m in front if m.trainable_params >= b.trainable_params and m.val_accuracy <= b.val_accuracy]
    if not members:
        return None
    better = [m for m in front if m.trainable_params > b.trainable_params and m.val_accuracy > b.val_accuracy]
    high = min(m.trainable_params for m in better) - 1 if better else None
    whole = bool(front) and b.trainable_params <= front[0].trainable_params and b.val_accuracy >= max(m.val_accuracy for m in front)
    return Dominance(b.family, baseline_label(b.family), b.trainable_params, b.val_accuracy, b.test_accuracy,
                     [m.number for m in members], b.trainable_params, high, whole)


def cost(tables: Tables, cfg: SearchConfig) -> Cost:
    cands = tables.candidates
    complete = [r for r in cands if r.state == "COMPLETE"]
    pruned = [r for r in cands if r.state == "PRUNED"]
    epochs = cfg.recipe.epochs
    trained = round(sum(r.epochs_trained for r in cands), 1)
    saved = round(sum(max(0.0, epochs - r.epochs_trained) for r in pruned), 1)
    per_candidate = sum(r.seconds for r in complete) / len(complete) if complete else None
    complete_epochs = sum(r.epochs_run for r in complete)
    per_epoch = sum(r.seconds for r in complete) / complete_epochs if complete_epochs else None
    baseline_seconds = sum(b.seconds for b in tables.baselines)
    return Cost(
        wall_seconds=tables.wall_seconds or None,
        training_seconds=sum(r.seconds for r in cands) + baseline_seconds, baseline_seconds=baseline_seconds,
        candidates_finished=len(cands), budget=cfg.budget, complete=len(complete), pruned=len(pruned),
        epochs_per_candidate=epochs, epochs_trained=trained, epochs_budget=cfg.budget * epochs, epochs_saved=saved,
        seconds_saved=saved * per_epoch if per_epoch is not None else None,
        seconds_per_candidate=per_candidate, seconds_per_epoch=per_epoch,
    )


def verdict(tables: Tables, cfg: SearchConfig) -> Verdict:
    """Which model to take, and the plain sentences a person needs to take it."""
    complete = [r for r in tables.candidates if r.state == "COMPLETE" and r.val_accuracy is not None]
    baselines = [b for b in tables.baselines if b.val_accuracy is not None]
    front = [r for r in tables.front if r.val_accuracy is not None]
    options = pareto_front(complete + baselines)
    k = knee(options)
    best_option = _most_accurate(options)
    take, reason = (k, "knee") if k is not None else (best_option, "most accurate")
    conv = next((b for b in baselines if b.family == "conv"), None)

    budgets = []
    if conv is not None:
        for f in BUDGET_FRACTIONS:
            limit = int(f * conv.trainable_params)
            fits = [r for r in options if r.trainable_params <= limit]
            fit_cands = [r for r in complete if r.trainable_params <= limit]
            best, best_cand = _most_accurate(fits), _most_accurate(fit_cands)
            budgets.append(Budget(f, limit, Choice.of(best) if best else None, Choice.of(best_cand) if best_cand else None))

    doms = [d for d in (dominance(b, front) for b in baselines) if d is not None]
    best_cand = _most_accurate(complete)
    saving = None
    if conv is not None and best_cand is not None:
        saving = Saving(
            Choice.of(best_cand), Choice.of(conv), conv.trainable_params / best_cand.trainable_params,
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

    v = Verdict(
        study=cfg.study_name, dataset=cfg.data.dataset, space=cfg.family,
        take=Choice.of(take) if take else None, take_reason=reason, knee=Choice.of(k) if k else None,
        most_accurate=Choice.of(best_option) if best_option else None, options=[Choice.of(r) for r in options],
        budgets=budgets, dominance=doms, saving=saving, close_to_conv=Choice.of(close) if close else None,
        test_gap=gap, test_gap_number=gap_number, cost=cost(tables, cfg),
    )
    v.sentences = sentences(v, conv_present=conv is not None)
    return v


# -- the words --------------------------------------------------------------------------------
def _dominance_sentence(d: Dominance) -> str:
    head = f"The {d.label} baseline ({d.trainable_params:,} parameters, val {_acc(d.val_accuracy)})"
    if d.whole_front:
        return (f"{head} is no larger than the smallest candidate on the front and at least as accurate as every "
                f"candidate: take the {d.baseline} network; the search found nothing better.")
    n = len(d.members)
    members = f"{n} front member{'s' if n != 1 else ''}"
    if d.high is None:
        return (f"{head} is at least as accurate as every candidate with {d.low:,} parameters or more ({members}): "
                f"no candidate that size is worth taking over the {d.baseline} network.")
    return (f"{head} is at least as accurate as every candidate between {d.low:,} and {d.high:,} parameters "
            f"({members}): below {d.high + 1:,} parameters, take the {d.baseline} network unless you need fewer "
            f"than {d.low:,}.")


def _cost_sentence(c: Cost) -> str:
    wall = f"wall time {duration(c.wall_seconds)}" if c.wall_seconds else "wall time not recorded (the study predates it)"
    parts = [f"Cost: {wall}; training {duration(c.training_seconds)} summed over {c.candidates_finished} candidates and the "
             f"baselines ({duration(c.baseline_seconds)})"]
    finished = "" if c.candidates_finished == c.budget else f"; {c.candidates_finished} of {c.budget} candidates finished"
    parts.append(f"{c.epochs_trained:,g} of the budget's {c.epochs_budget:,} candidate-epochs trained "
                 f"({c.budget} candidates x {c.epochs_per_candidate} epochs{finished})")
    if c.pruned:
        saved = f", about {duration(c.seconds_saved)}" if c.seconds_saved is not None else ""
        parts.append(f"pruning stopped {c.pruned} candidate{'s' if c.pruned != 1 else ''} early and saved "
                     f"{c.epochs_saved:,g} epochs{saved}")
    else:
        parts.append("nothing was pruned")
    if c.seconds_per_candidate is not None:
        parts.append(f"{c.seconds_per_candidate:.1f} s per complete candidate ({c.seconds_per_epoch:.2f} s per epoch)")
    return "; ".join(parts) + "."


def sentences(v: Verdict, conv_present: bool = True) -> list[str]:
    out: list[str] = []
    if v.take is None:
        return ["No candidate or baseline has finished yet: nothing to choose from.", _cost_sentence(v.cost)]
    for d in v.dominance:
        if d.whole_front:
            out.append(_dominance_sentence(d))
    if v.take_reason == "knee":
        out.append(f"Take {v.take.brief()}: the knee of the front of candidates and baselines; past it, each doubling "
                   f"of parameters buys less accuracy than the front's average.")
    else:
        out.append(f"Take {v.take.brief()}: the most accurate network (the front of candidates and baselines has no knee).")
    if v.most_accurate is not None and v.most_accurate.key != v.take.key:
        out.append(f"For the most accuracy, take {v.most_accurate.brief()}.")
    for b in v.budgets:
        lead = f"Within {b.fraction * 100:.0f} % of the Conv2d baseline's parameters ({b.max_params:,})"
        if b.best is None:
            out.append(f"{lead}: nothing was trained; the smallest option is {v.options[0].brief()}.")
        elif b.best.role == "candidate" or b.best_candidate is None:
            out.append(f"{lead}: {b.best.brief()}.")
        else:
            out.append(f"{lead}: {b.best.brief()}; the best candidate there is {b.best_candidate.brief()}.")
    for d in v.dominance:
        if not d.whole_front:
            out.append(_dominance_sentence(d))
    s = v.saving
    if s is not None:
        cand, conv = s.candidate, s.conv
        if s.times_fewer > 1:
            size = (f"has {s.times_fewer:.2f}x fewer parameters than the Conv2d baseline ({conv.trainable_params:,}, "
                    f"val {_acc(conv.val_accuracy)}, test {_acc(conv.test_accuracy)}), {s.percent_fewer:.1f} % fewer")
        else:
            size = (f"is no smaller than the Conv2d baseline ({conv.trainable_params:,}, val {_acc(conv.val_accuracy)}, "
                    f"test {_acc(conv.test_accuracy)})")

        def diff(p: float | None, what: str) -> str:
            if p is None:
                return f"{what} n/a"
            return f"{_points(p)} {'more' if p > 0 else 'less'} {what}" if p != 0 else f"the same {what}"
        out.append(f"The most accurate candidate, {cand.brief()}, {size}, with "
                   f"{diff(s.val_points, 'validation accuracy')} and {diff(s.test_points, 'test accuracy')}.")
    if conv_present:
        if v.close_to_conv is not None:
            c = v.close_to_conv
            ratio = v.saving.conv.trainable_params / c.trainable_params if v.saving else None
            more = f": {ratio:.2f}x fewer parameters" if ratio and ratio > 1 else ""
            out.append(f"The smallest candidate within {CLOSE_POINTS:g} point of the Conv2d baseline's validation accuracy "
                       f"is {c.brief()}{more}.")
        elif v.saving is not None:
            out.append(f"No candidate comes within {CLOSE_POINTS:g} point of the Conv2d baseline's validation accuracy "
                       f"({_acc(v.saving.conv.val_accuracy)}).")
    if v.test_gap is not None:
        out.append(f"Test accuracy (reported, never used to choose) is within {v.test_gap:.2f} points of validation on "
                   f"every front member (largest gap: trial {v.test_gap_number}).")
    out.append(_cost_sentence(v.cost))
    return out
