"""What a study holds, as typed records: the one module that reads and writes Optuna's attributes.

A study's networks are *candidates* (trials the sampler proposed or the search queued) and
*baselines* (networks every search trains beside them, kept as study attributes). Each is a
``Record``: its layers, what it costs (the registered objectives' columns), its validation
record (``ranksearch.curves``), its test accuracy and its training seconds. A running
candidate is written through ``LiveTrial``. Everything else in ranksearch reads and writes
these records, never the attribute names below, so what a trial holds is said in one place.

A trial is a *candidate* once it has been measured (it holds ``spec``) and is not a duplicate of
another; a trial marked a duplicate or surplus to the budget never trains. Private storage calls
(claiming a queued trial, failing an orphan, heartbeats) live in ``ranksearch.storage``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ranksearch.curves import accuracy_at, last_accuracy, progress
from ranksearch.objectives import measured_columns

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)

# Study attributes.
CONFIG = "ranksearch_config"
WALL = "wall_seconds"
BASELINE_PREFIX = "baseline:"
WARM_STARTS = "warm_starts"
PAPER_QUEUED = "paper_models_enqueued"
REQUEUED = "requeued"


@dataclass
class Record:
    """One network of a study: a candidate (with its trial number) or a baseline (``name``)."""

    role: str  # candidate | baseline
    name: str  # a candidate's search space, or the baseline's name: conv, separable, given
    number: int | None
    state: str  # COMPLETE, PRUNED (RUNNING while it trains)
    spec: dict[str, Any]
    measures: dict[str, float]  # the registered objectives' columns (trainable_params, flops, latency_ms, ...)
    val_curve: list[float] = field(default_factory=list)  # validation accuracy after each epoch
    val_checks: dict[str, float] = field(default_factory=dict)  # within epochs, keyed by curves.check_key
    test_accuracy: float | None = None  # reported only, never used to choose
    seconds: float = 0.0  # training wall time
    on_front: bool = False  # set by ranksearch.results

    @property
    def family(self) -> str:
        """The search space of a candidate, the family of a baseline: trials.csv's family column."""
        return self.name

    @property
    def trainable_params(self) -> int:
        return int(self.measures["trainable_params"])

    @property
    def keras_params(self) -> int:
        return int(self.measures["keras_params"])

    @property
    def flops(self) -> int:
        return int(self.measures["flops"])

    @property
    def latency_ms(self) -> float | None:
        return self.measures.get("latency_ms")

    @property
    def latency_ms_batch(self) -> float | None:
        return self.measures.get("latency_ms_batch")

    def value(self, column: str) -> float | None:
        """A measured column, or None where the study predates its measurement."""
        return self.measures.get(column)

    @property
    def val_accuracy(self) -> float | None:
        """Final validation accuracy: the search's objective; None unless complete."""
        return self.val_curve[-1] if self.state == "COMPLETE" and self.val_curve else None

    @property
    def epochs_run(self) -> int:
        """Whole epochs trained."""
        return len(self.val_curve)

    @property
    def epochs_trained(self) -> float:
        """Epochs trained, counting the part of an epoch before a stop at a check within it."""
        return progress(self.val_curve, self.val_checks)

    @property
    def pruned_at_epoch(self) -> float | None:
        return self.epochs_trained if self.state == "PRUNED" else None

    @property
    def last_val_accuracy(self) -> float | None:
        return last_accuracy(self.val_curve, self.val_checks)

    @property
    def layers(self) -> dict[str, dict[str, Any]]:
        return self.spec["layers"]

    @property
    def ranks(self) -> dict[str, Any]:
        return {name: layer.get("rank") for name, layer in self.layers.items()}

    @property
    def families(self) -> dict[str, str]:
        return {name: layer["family"] for name, layer in self.layers.items()}

    @property
    def key(self) -> str:
        """``trial 6`` or ``baseline separable``: how tables and the verdict name a record."""
        return f"baseline {self.name}" if self.role == "baseline" else f"trial {self.number}"


def _measures(attrs: dict[str, Any]) -> dict[str, float]:
    return {c: attrs[c] for c in measured_columns() if attrs.get(c) is not None}


def _record(role: str, number: int | None, state: str, attrs: dict[str, Any]) -> Record:
    return Record(
        role=role, name=attrs["family"], number=number, state=state, spec=attrs["spec"], measures=_measures(attrs),
        val_curve=list(attrs.get("val_curve") or []), val_checks=dict(attrs.get("val_checks") or {}),
        test_accuracy=attrs.get("test_accuracy"), seconds=attrs.get("seconds", 0.0),
    )


# -- candidates -------------------------------------------------------------------------------
def is_candidate(t: FrozenTrial) -> bool:
    """A trial that trains (or trained) a network of its own: measured, and not a duplicate."""
    return "spec" in t.user_attrs and "duplicate_of" not in t.user_attrs


def holds_a_place(t: FrozenTrial) -> bool:
    """A trial that counts towards the budget once it finishes: not a duplicate, not surplus."""
    return "duplicate_of" not in t.user_attrs and "surplus" not in t.user_attrs


def candidate(t: FrozenTrial | optuna.Trial) -> Record:
    """The record of a candidate trial (running, or finished)."""
    state = t.state.name if isinstance(t, FrozenTrial) else "RUNNING"
    return _record("candidate", t.number, state, t.user_attrs)


def candidates(study: optuna.Study, states: tuple[TrialState, ...] = FINISHED) -> list[Record]:
    """Candidates in ``states`` (finished ones by default), in trial order."""
    return [candidate(t) for t in study.get_trials(deepcopy=False, states=states) if is_candidate(t)]


def finished_count(study: optuna.Study) -> int:
    return sum(1 for t in study.get_trials(deepcopy=False, states=FINISHED) if is_candidate(t))


def running_trials(study: optuna.Study, before: int | None = None) -> list[FrozenTrial]:
    """Running trials that hold a place in the budget (in any process), or those numbered below ``before``."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if holds_a_place(t) and (before is None or t.number < before)]


def config_key_of(t: FrozenTrial) -> str | None:
    return t.user_attrs.get("config_key")


def worker_of(t: FrozenTrial) -> str | None:
    return t.user_attrs.get("worker")


def is_retry(t: FrozenTrial) -> bool:
    return "retry_of" in t.user_attrs


def twin_of(study: optuna.Study, key: str, number: int) -> FrozenTrial | None:
    """The first other trial (running or finished) that trains the configuration ``key``."""
    twins = [t for t in study.get_trials(deepcopy=False, states=FINISHED + (TrialState.RUNNING,))
             if t.number != number and t.user_attrs.get("config_key") == key and "duplicate_of" not in t.user_attrs]
    return min(twins, key=lambda t: t.number) if twins else None


def timings(t: FrozenTrial) -> dict[str, float]:
    """A finished trial's seconds: training, measuring before it, and the rest (sampler, storage)."""
    a = t.user_attrs
    return {k: a.get(k, 0.0) for k in ("seconds", "describe_seconds", "overhead_seconds")}


class LiveTrial:
    """A candidate being trained by this process: everything the search writes on its trial."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial) -> None:
        self.study, self.trial = study, trial

    @property
    def number(self) -> int:
        return self.trial.number

    def claim(self, worker: str) -> None:
        self.trial.set_user_attr("worker", worker)

    def mark_surplus(self) -> None:
        self.trial.set_user_attr("surplus", True)

    def set_key(self, key: str) -> None:
        self.trial.set_user_attr("config_key", key)

    def mark_duplicate(self, of: int) -> None:
        self.trial.set_user_attr("duplicate_of", of)

    def describe(self, space: str, spec: dict[str, Any], measures: dict[str, float], seconds: float) -> None:
        """What the candidate is and costs, known before training; from here on it is a candidate."""
        self.trial.set_user_attr("describe_seconds", seconds)
        for name, value in {"family": space, **measures, "spec": spec}.items():
            self.trial.set_user_attr(name, value)
        # An empty curve from the start: a candidate stopped at its first check has trained there.
        self.trial.set_user_attr("val_curve", [])

    def record_point(self, curve: list[float], checks: dict[str, float], at_check: bool, seconds: float) -> None:
        """The validation record after an epoch (or a check within one) and the seconds so far."""
        if at_check:
            self.trial.set_user_attr("val_checks", checks)
        else:
            self.trial.set_user_attr("val_curve", curve)
        self.trial.set_user_attr("seconds", seconds)

    def record_result(self, test_accuracy: float | None, seconds: float) -> None:
        self.trial.set_user_attr("test_accuracy", test_accuracy)
        self.trial.set_user_attr("seconds", seconds)

    def record_overhead(self, wall: float) -> None:
        """The trial's wall time not spent measuring or training (sampler, storage)."""
        a = self.trial.user_attrs
        if "spec" in a:
            own = a.get("seconds", 0.0) + a.get("describe_seconds", 0.0)
            self.trial.set_user_attr("overhead_seconds", max(0.0, wall - own))

    def is_candidate(self) -> bool:
        return "spec" in self.trial.user_attrs and "duplicate_of" not in self.trial.user_attrs

    def record(self) -> Record:
        return candidate(self.trial)


# -- what pruners read ------------------------------------------------------------------------
@dataclass(frozen=True)
class Trained:
    """A network's size and validation record so far: what a pruner compares."""

    number: int | None
    trainable_params: int
    val_curve: list[float]
    val_checks: dict[str, float]

    @property
    def progress(self) -> float:
        return progress(self.val_curve, self.val_checks)

    def accuracy_at(self, at: float) -> float | None:
        return accuracy_at(self.val_curve, self.val_checks, at)


def _trained(number: int | None, attrs: dict[str, Any]) -> Trained:
    return Trained(number, attrs["trainable_params"], list(attrs.get("val_curve") or []), dict(attrs.get("val_checks") or {}))


def trained_of(trial: optuna.Trial | FrozenTrial) -> Trained:
    return _trained(trial.number, trial.user_attrs)


def trained(study: optuna.Study, states: tuple[TrialState, ...]) -> list[Trained]:
    """Candidates in ``states`` that have started training (their curve exists, perhaps empty)."""
    return [_trained(t.number, t.user_attrs) for t in study.get_trials(deepcopy=False, states=states)
            if "duplicate_of" not in t.user_attrs and "val_curve" in t.user_attrs]


def trained_baselines(study: optuna.Study) -> list[Trained]:
    """The baselines trained with the study's recipe (not a network measured as given)."""
    return [_trained(None, a) for k, a in study.user_attrs.items()
            if k.startswith(BASELINE_PREFIX) and isinstance(a, dict) and a.get("family") != "given"]


# -- baselines --------------------------------------------------------------------------------
def baselines(study: optuna.Study, trained_only: bool = False) -> list[Record]:
    """The baselines recorded so far; ``trained_only`` leaves out a network measured as given
    (a user's trained weights, never trained with the study's recipe)."""
    found = [_record("baseline", None, "COMPLETE", a) for k, a in study.user_attrs.items()
             if k.startswith(BASELINE_PREFIX) and isinstance(a, dict)]
    order = {"conv": 0, "separable": 1}
    found.sort(key=lambda r: order.get(r.name, 2))
    return [r for r in found if not (trained_only and r.name == "given")]


def has_baseline(study: optuna.Study, name: str) -> bool:
    return f"{BASELINE_PREFIX}{name}" in study.user_attrs


def record_baseline(study: optuna.Study, record: Record, summary: str) -> None:
    """Store a finished baseline, with one readable line beside it for people browsing the study."""
    key = f"{BASELINE_PREFIX}{record.name}"
    study.set_user_attr(key, {
        "family": record.name, "spec": record.spec, **record.measures, "val_curve": record.val_curve,
        "val_checks": record.val_checks, "test_accuracy": record.test_accuracy, "seconds": record.seconds,
    })
    study.set_user_attr(f"{key} summary", summary)


# -- the study's own bookkeeping --------------------------------------------------------------
def saved_config(study: optuna.Study) -> dict[str, Any] | None:
    return study.user_attrs.get(CONFIG)


def save_config(study: optuna.Study, config: dict[str, Any]) -> None:
    study.set_user_attr(CONFIG, config)


def wall_seconds(study: optuna.Study) -> float:
    return float(study.user_attrs.get(WALL, 0.0))


def add_wall_seconds(study: optuna.Study, seconds: float) -> None:
    study.set_user_attr(WALL, wall_seconds(study) + seconds)


def warm_starts(study: optuna.Study) -> list[dict[str, Any]]:
    return list(study.user_attrs.get(WARM_STARTS, []))


def set_warm_starts(study: optuna.Study, params: list[dict[str, Any]]) -> None:
    study.set_user_attr(WARM_STARTS, params)


def paper_models_queued(study: optuna.Study) -> bool:
    return bool(study.user_attrs.get(PAPER_QUEUED))


def set_paper_models_queued(study: optuna.Study) -> None:
    study.set_user_attr(PAPER_QUEUED, True)


def requeued(study: optuna.Study) -> set[int]:
    return set(study.user_attrs.get(REQUEUED, []))


def add_requeued(study: optuna.Study, numbers: list[int]) -> None:
    study.set_user_attr(REQUEUED, sorted(requeued(study) | set(numbers)))


def queued_params(t: FrozenTrial) -> dict[str, Any]:
    """A trial's parameters; interrupted before its first suggestion, an enqueued trial holds them only as fixed_params."""
    return t.params or t.system_attrs.get("fixed_params") or {}


def enqueue_retry(study: optuna.Study, params: dict[str, Any], of: int) -> None:
    study.enqueue_trial(params, user_attrs={"retry_of": of})

