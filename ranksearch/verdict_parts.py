"""The parts of a verdict, as plain dataclasses: what ``ranksearch.verdict`` decides and
``ranksearch.sentences`` says, and what summary.json holds (``Verdict.to_dict``)."""

from __future__ import annotations

import textwrap
from dataclasses import asdict, dataclass, field
from typing import Any

from ranksearch.labels import acc, layers_label, parent_name, reference_name
from ranksearch.rows import Record as Row

CLOSE_POINTS = 1.0  # "within 1 point" of the Conv2d baseline's validation accuracy


@dataclass
class Choice:
    """One network a person could take: a candidate (by trial number) or a baseline."""

    role: str  # candidate | baseline | parent
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
    val_accuracy_seeds: list[float] = field(default_factory=list)  # every seed trained, when confirmed (the mean is val_accuracy)
    test_accuracy_seeds: list[float | None] = field(default_factory=list)

    @classmethod
    def of(cls, r: Row, network: str | None = None) -> "Choice":
        """``network``: a user's network's name, for the baselines of a ``--model`` study."""
        if r.role == "parent":
            name = parent_name(r.lineage, network)
        elif r.role == "baseline":
            name = reference_name(r.family, network)
        else:
            name = f"trial {r.number}"
        return cls(r.role, r.number, r.family, name, layers_label(r.spec), r.trainable_params, r.keras_params,
                   r.flops, r.val_accuracy, r.test_accuracy, r.seconds, r.latency_ms, r.latency_ms_batch,
                   r.val_accuracy_seeds, r.test_accuracy_seeds)

    @property
    def val_range(self) -> tuple[float, float] | None:
        return (min(self.val_accuracy_seeds), max(self.val_accuracy_seeds)) if self.val_accuracy_seeds else None

    @property
    def key(self) -> str:
        """``trial 6``, ``baseline separable`` or ``parent``: how the report's table names a row."""
        if self.role == "candidate":
            return f"trial {self.number}"
        return "parent" if self.role == "parent" else f"baseline {self.family}"

    def brief(self) -> str:
        """``trial 6 (11,776 parameters, val 0.8745, test 0.8720)``; a mean and its range when confirmed with more seeds."""
        if self.val_range is None:
            return f"{self.name} ({self.trainable_params:,} parameters, val {acc(self.val_accuracy)}, test {acc(self.test_accuracy)})"
        lo, hi = self.val_range
        return (f"{self.name} ({self.trainable_params:,} parameters, val {acc(self.val_accuracy)} ({acc(lo)}-{acc(hi)} over "
                f"{len(self.val_accuracy_seeds)} seeds), test {acc(self.test_accuracy)})")


@dataclass
class Budget:
    fraction: float
    max_params: int  # floor(fraction x the Conv2d baseline's trainable parameters, else the parent's)
    best: Choice | None  # most accurate option (candidate or baseline) within it
    best_candidate: Choice | None  # most accurate candidate within it


@dataclass
class Dominance:
    baseline: str  # family
    label: str  # how the verdict names it: the SeparableConv2d baseline, your SmallVGG
    trainable_params: int
    val_accuracy: float
    test_accuracy: float | None
    members: list[int]  # trial numbers of the candidate-front members it dominates
    low: int  # it is at least as accurate as every candidate with low..high parameters
    high: int | None  # None: every candidate from low parameters up
    whole_front: bool  # no larger than the smallest front member and at least as accurate as the best


@dataclass
class Unbeaten:
    """A baseline that no complete candidate matches at its size (no more parameters, at least its validation
    accuracy): what the search did not win."""

    baseline: Choice
    best_no_larger: Choice | None  # the most accurate complete candidate with no more parameters; None: none that small
    val_points: float | None  # 100 x (that candidate - the baseline) validation accuracy: negative
    within_noise: bool = False  # either was trained with more seeds and their validation ranges overlap


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
class Noise:
    """Two networks compared, at least one confirmed with more seeds: level when their validation ranges overlap."""

    first: Choice
    second: Choice
    level: bool


@dataclass
class CurveSaving:
    """A candidate against the baselines' curve: the parameters a baseline of its validation accuracy would need."""

    candidate: Choice
    baseline_params: int | None  # log-interpolated along the curve; None where no baseline reaches the accuracy
    between: list[str]  # the baselines on either side (one when the candidate matches one)
    times_fewer: float | None  # baseline_params / the candidate's
    percent_fewer: float | None


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
    confirmation_seconds: float = 0.0  # the named networks trained again with more seeds (job-seconds)
    confirmation_share: float | None = None  # of the search's own training seconds


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
    baseline_curve: list[Choice] = field(default_factory=list)  # the parent and baselines not dominated by another
    curve_savings: list[CurveSaving] = field(default_factory=list)  # each candidate-front member against that curve
    best_curve_saving: CurveSaving | None = None  # the largest saving at equal accuracy, if any candidate beats the curve
    unbeaten: list[Unbeaten] = field(default_factory=list)  # baselines no candidate matches at their size
    noise: list[Noise] = field(default_factory=list)  # close calls: the take against what it names; best candidate vs conv
    conv_name: str = "the Conv2d baseline"  # the dense network, as the sentences name it
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
