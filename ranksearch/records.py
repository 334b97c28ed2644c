"""What a study holds, as typed records: the one module that reads and writes Optuna's attributes.

A study's networks are all trials:

- *candidates*, the trials the sampler proposed or the search queued (the paper's models, warm starts);
- *the parent* (``kind`` "parent"): the dense network every candidate inherits its weights from,
  trained once (or a user's network as given, measured once);
- *baselines* (``kind`` "baseline"): the networks a user could take without the search, trained
  the way the fairness rule says (``inherits`` from the parent like the candidates, or from
  scratch for as long as a candidate's whole lineage); ``comparable`` ones trained exactly as the
  candidates are, so pruners compare candidates with them at every rung.

The parent and the baselines are *required* trials: queued once per study, claimed like any
trial (so concurrent processes train each once) and told with their values, so the sampler
sees them. Each network is a ``Record``: its layers, what it costs (the registered objectives'
columns), its validation record (``ranksearch.curves``), its test accuracy and its seconds. A
running trial is written through ``LiveTrial``. Everything else in ranksearch reads and writes
these records, never the attribute names below. Studies written before the parent and baselines
were trials hold baselines as study attributes (``baseline:<name>``); they read the same way.

A trial is a *candidate* once measured (it holds ``spec``), with no ``kind``, not a duplicate;
a duplicate or a trial surplus to the budget never trains. Private storage calls live in
``ranksearch.storage``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ranksearch.objectives import recorded_columns
from ranksearch.rows import Record, Trained

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
LIVE = (TrialState.WAITING, TrialState.RUNNING)

# Study attributes.
CONFIG = "ranksearch_config"
BASELINE_PREFIX = "baseline:"  # studies written before baselines were trials
BASELINE_ORDER = {"conv": 0, "separable": 1}


def _measures(attrs: dict[str, Any]) -> dict[str, float]:
    return {c: attrs[c] for c in recorded_columns() if attrs.get(c) is not None}


def _record(role: str, number: int | None, state: str, attrs: dict[str, Any]) -> Record:
    return Record(
        role=role, name=attrs["family"], number=number, state=state, spec=attrs["spec"], measures=_measures(attrs),
        val_curve=list(attrs.get("val_curve") or []), val_checks=dict(attrs.get("val_checks") or {}),
        test_accuracy=attrs.get("test_accuracy"), seconds=attrs.get("seconds", 0.0), lineage=attrs.get("lineage", ""),
        threads=attrs.get("threads"), diverged_at=attrs.get("diverged_at"), energy_kept=attrs.get("energy_kept"),
    )


# -- which trial is what ----------------------------------------------------------------------
def kind_of(t: FrozenTrial | optuna.Trial) -> str:
    """candidate, parent or baseline."""
    return t.user_attrs.get("kind", "candidate")


def is_candidate(t: FrozenTrial) -> bool:
    """A trial that trains (or trained) a candidate network of its own: measured, and not a duplicate."""
    return "spec" in t.user_attrs and "duplicate_of" not in t.user_attrs and "kind" not in t.user_attrs


def holds_a_place(t: FrozenTrial) -> bool:
    """A candidate trial that counts towards the budget once it finishes: not a duplicate, not surplus."""
    return "kind" not in t.user_attrs and "duplicate_of" not in t.user_attrs and "surplus" not in t.user_attrs


def candidate(t: FrozenTrial | optuna.Trial) -> Record:
    """The record of a candidate trial (running, or finished)."""
    state = t.state.name if isinstance(t, FrozenTrial) else "RUNNING"
    return _record("candidate", t.number, state, t.user_attrs)


def candidate_numbered(study: optuna.Study, number: int) -> Record | None:
    t = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
    return candidate(t) if t is not None and is_candidate(t) else None


def candidates(study: optuna.Study, states: tuple[TrialState, ...] = FINISHED) -> list[Record]:
    """Candidates in ``states`` (finished ones by default), in trial order."""
    return [candidate(t) for t in study.get_trials(deepcopy=False, states=states) if is_candidate(t)]


def finished_count(study: optuna.Study) -> int:
    return sum(1 for t in study.get_trials(deepcopy=False, states=FINISHED) if is_candidate(t))


def running_trials(study: optuna.Study, before: optuna.Trial | FrozenTrial | None = None) -> list[FrozenTrial]:
    """Running candidate trials that hold a place in the budget (in any process); with ``before``, those that
    started before it (a queued trial's number is older than its start, so the start decides, then the number)."""
    running = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if holds_a_place(t)]
    if before is None:
        return running
    mine = (before.datetime_start, before.number)
    return [t for t in running if t.number != before.number and (t.datetime_start, t.number) < mine]


def config_key_of(t: FrozenTrial) -> str | None:
    return t.user_attrs.get("config_key")


def worker_of(t: FrozenTrial) -> str | None:
    return t.user_attrs.get("worker")


def is_retry(t: FrozenTrial) -> bool:
    return "retry_of" in t.user_attrs


def twin_of(study: optuna.Study, key: str, number: int) -> FrozenTrial | None:
    """The first other trial (running or finished) that trains the configuration ``key`` the candidates' way."""
    twins = [t for t in study.get_trials(deepcopy=False, states=FINISHED + (TrialState.RUNNING,))
             if t.number != number and t.user_attrs.get("config_key") == key and "duplicate_of" not in t.user_attrs]
    return min(twins, key=lambda t: t.number) if twins else None


# -- required trials: the parent and the baselines --------------------------------------------
@dataclass(frozen=True)
class Required:
    """A network every search of its configuration trains besides the candidates."""

    kind: str  # parent | baseline | confirm
    name: str  # "parent"; conv, separable, conv@0.5; "trial 9 seed 1"
    params: dict[str, Any]  # its trial parameters where it is a point of the search space, else {}
    inherits: bool  # starts from the trained parent, so waits for it
    comparable: bool  # trained exactly as the candidates: pruners compare with it at every rung
    of: str = ""  # a confirmation: the key of the network it trains again ("trial 9", "baseline conv")
    seed: int | None = None  # a confirmation: its seed


def required_of(t: FrozenTrial | optuna.Trial) -> Required | None:
    a = t.user_attrs
    if "kind" not in a:
        return None
    return Required(a["kind"], a["name"], {}, bool(a.get("inherits")), bool(a.get("comparable")), a.get("of", ""),
                    a.get("seed"))


def _required_trials(study: optuna.Study, states: tuple[TrialState, ...] | None = None) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False, states=states)
            if "kind" in t.user_attrs and "duplicate_of" not in t.user_attrs]


def queue_required(study: optuna.Study, required: list[Required]) -> list[str]:
    """Queue each required network that no trial trains or trained yet (a failed one is queued again)."""
    have = {(t.user_attrs["kind"], t.user_attrs["name"]) for t in _required_trials(study) if t.state != TrialState.FAIL}
    queued = []
    for r in required:
        if (r.kind, r.name) not in have:
            attrs = {"kind": r.kind, "name": r.name, "inherits": r.inherits, "comparable": r.comparable}
            if r.kind == "confirm":
                attrs.update(of=r.of, seed=r.seed)
            study.enqueue_trial(r.params, user_attrs=attrs)
            queued.append(r.name)
    return queued


def required_outstanding(study: optuna.Study) -> list[FrozenTrial]:
    """Required trials still queued or training."""
    return _required_trials(study, LIVE)


def required_twin(study: optuna.Study, t: FrozenTrial | optuna.Trial) -> FrozenTrial | None:
    """An earlier trial of the same required network (two processes queued it at once): the one that counts."""
    kind, name = t.user_attrs.get("kind"), t.user_attrs.get("name")
    twins = [o for o in _required_trials(study) if o.number < t.number and o.state != TrialState.FAIL
             and (o.user_attrs["kind"], o.user_attrs["name"]) == (kind, name)]
    return min(twins, key=lambda o: o.number) if twins else None


def parent_trial(study: optuna.Study) -> FrozenTrial | None:
    done = [t for t in _required_trials(study, (TrialState.COMPLETE,)) if t.user_attrs["kind"] == "parent"]
    return done[0] if done else None


def parent(study: optuna.Study) -> Record | None:
    t = parent_trial(study)
    return _record("parent", t.number, "COMPLETE", t.user_attrs) if t is not None else None


PARENT_FILE = "parent.pt"  # the trained parent's state_dict, in the run folder


def in_folder(recorded: str | None, folder: str | Path | None) -> str | None:
    """A file the study recorded; when it is gone and the run ``folder`` (moved or copied since: a committed
    study on a fresh checkout) holds a file of its name, that one (absolute path)."""
    if recorded and not Path(recorded).exists() and folder is not None and (Path(folder) / Path(recorded).name).exists():
        return str((Path(folder) / Path(recorded).name).resolve())
    return recorded


def parent_weights(study: optuna.Study, folder: str | Path | None = None) -> str | None:
    """Where the parent's state_dict is, once it is trained (``parent.pt`` in the run folder) or given
    (the user's ``--weights`` file): the path the study recorded, or the folder's own file of that name."""
    t = parent_trial(study)
    return in_folder(t.user_attrs.get("weights") if t is not None else None, folder)


def seed_runs(study: optuna.Study) -> dict[str, list[tuple[int, float, float | None]]]:
    """Each confirmed network's runs with other seeds: key ("trial 9", "baseline conv") -> [(seed, val, test)]."""
    runs: dict[str, list[tuple[int, float, float | None]]] = {}
    for t in _required_trials(study, (TrialState.COMPLETE,)):
        a = t.user_attrs
        if a["kind"] == "confirm" and a.get("val_curve"):
            runs.setdefault(a["of"], []).append((a["seed"], a["val_curve"][-1], a.get("test_accuracy")))
    return {k: sorted(v) for k, v in runs.items()}


def confirmation_seconds(study: optuna.Study) -> float:
    return sum(t.user_attrs.get("seconds", 0.0) for t in _required_trials(study, (TrialState.COMPLETE,))
               if t.user_attrs["kind"] == "confirm")


def training_seconds(study: optuna.Study) -> float:
    """Job-seconds the search trained, confirmations left out: what their cost is measured against."""
    return sum(t.user_attrs.get("seconds", 0.0) for t in study.get_trials(deepcopy=False, states=FINISHED)
               if t.user_attrs.get("kind") != "confirm" and "duplicate_of" not in t.user_attrs)


def baselines(study: optuna.Study) -> list[Record]:
    """The baselines finished so far: conv, separable, then the others by size."""
    found = [_record("baseline", None, "COMPLETE", a) for k, a in study.user_attrs.items()
             if k.startswith(BASELINE_PREFIX) and isinstance(a, dict)]
    found += [_record("baseline", t.number, "COMPLETE", {**t.user_attrs, "family": t.user_attrs["name"]})
              for t in _required_trials(study, (TrialState.COMPLETE,)) if t.user_attrs["kind"] == "baseline"]
    found.sort(key=lambda r: (BASELINE_ORDER.get(r.name, 2), r.trainable_params))
    return found


# -- what pruners read ------------------------------------------------------------------------
def _trained(number: int | None, attrs: dict[str, Any]) -> Trained:
    classes = (attrs.get("spec") or {}).get("num_classes")
    return Trained(number, attrs["trainable_params"], list(attrs.get("val_curve") or []),
                   dict(attrs.get("val_checks") or {}), classes, attrs.get("energy_kept"))


def trained_of(trial: optuna.Trial | FrozenTrial) -> Trained:
    return _trained(trial.number, trial.user_attrs)


def trained(study: optuna.Study, states: tuple[TrialState, ...]) -> list[Trained]:
    """Candidates in ``states`` that have started training (their curve exists, perhaps empty)."""
    return [_trained(t.number, t.user_attrs) for t in study.get_trials(deepcopy=False, states=states)
            if "duplicate_of" not in t.user_attrs and "kind" not in t.user_attrs and "val_curve" in t.user_attrs]


def trained_baselines(study: optuna.Study) -> list[Trained]:
    """The finished baselines trained exactly as the candidates are (not a network measured as given)."""
    legacy = [_trained(None, a) for k, a in study.user_attrs.items()
              if k.startswith(BASELINE_PREFIX) and isinstance(a, dict) and a.get("family") != "given"]
    return legacy + [_trained(t.number, t.user_attrs) for t in _required_trials(study, (TrialState.COMPLETE,))
                     if t.user_attrs["kind"] == "baseline" and t.user_attrs.get("comparable")]


# -- a trial this process trains --------------------------------------------------------------
class LiveTrial:
    """A trial being trained by this process: everything the search writes on it."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial) -> None:
        self.study, self.trial = study, trial

    @property
    def number(self) -> int:
        return self.trial.number

    @property
    def kind(self) -> str:
        return kind_of(self.trial)

    @property
    def required(self) -> Required | None:
        return required_of(self.trial)

    def claim(self, worker: str) -> None:
        self.trial.set_user_attr("worker", worker)

    def mark_surplus(self) -> None:
        self.trial.set_user_attr("surplus", True)

    def set_key(self, key: str) -> None:
        self.trial.set_user_attr("config_key", key)

    def mark_duplicate(self, of: int) -> None:
        self.trial.set_user_attr("duplicate_of", of)

    def describe(self, name: str, spec: dict[str, Any], measures: dict[str, float], seconds: float, lineage: str = "",
                 threads: int | None = None) -> None:
        """What the network is and costs, known before training (``name``: a candidate's space or a baseline's name)."""
        self.trial.set_user_attr("describe_seconds", seconds)
        if threads is not None:
            self.trial.set_user_attr("threads", threads)
        for key, value in {"family": name, **measures, "spec": spec}.items():
            self.trial.set_user_attr(key, value)
        if lineage:
            self.trial.set_user_attr("lineage", lineage)
        # An empty curve from the start: a candidate stopped at its first check has trained there.
        self.trial.set_user_attr("val_curve", [])

    def record_point(self, curve: list[float], checks: dict[str, float], at_check: bool, seconds: float) -> None:
        """The validation record after an epoch (or a check within one) and the seconds so far."""
        if at_check:
            self.trial.set_user_attr("val_checks", checks)
        else:
            self.trial.set_user_attr("val_curve", curve)
        self.trial.set_user_attr("seconds", seconds)

    def record_result(self, curve: list[float], checks: dict[str, float], test_accuracy: float | None, seconds: float) -> None:
        self.trial.set_user_attr("val_curve", curve)
        self.trial.set_user_attr("val_checks", checks)
        self.trial.set_user_attr("test_accuracy", test_accuracy)
        self.trial.set_user_attr("seconds", seconds)

    def record_energy(self, kept: dict[str, float]) -> None:
        """The share of the parent's spectral energy each replaced layer keeps: a signal before any training."""
        values = list(kept.values())
        self.trial.set_user_attr("energy_kept", sum(values) / len(values))
        self.trial.set_user_attr("energy_min", min(values))

    def mark_diverged(self, at: float) -> None:
        self.trial.set_user_attr("diverged_at", at)

    def record_weights(self, path: str) -> None:
        """Where the trained network's state_dict was saved (the parent's, which candidates inherit)."""
        self.trial.set_user_attr("weights", path)

    def record_overhead(self, wall: float) -> None:
        """The trial's wall time not spent measuring or training (sampler, storage)."""
        a = self.trial.user_attrs
        if "spec" in a:
            own = a.get("seconds", 0.0) + a.get("describe_seconds", 0.0)
            self.trial.set_user_attr("overhead_seconds", max(0.0, wall - own))

    def trains_a_network(self) -> bool:
        return "spec" in self.trial.user_attrs and "duplicate_of" not in self.trial.user_attrs

    def record(self) -> Record:
        return candidate(self.trial)


# -- the study's own bookkeeping --------------------------------------------------------------
def saved_config(study: optuna.Study) -> dict[str, Any] | None:
    return study.user_attrs.get(CONFIG)


def save_config(study: optuna.Study, config: dict[str, Any]) -> None:
    study.set_user_attr(CONFIG, config)


def thread_counts(study: optuna.Study) -> set[int]:
    """The CPU thread counts the study's networks trained with so far (not the parent's: trained once,
    it takes every core when nothing else can train meanwhile)."""
    return {t.user_attrs["threads"] for t in study.get_trials(deepcopy=False)
            if "threads" in t.user_attrs and t.user_attrs.get("kind") != "parent"}


def queued_params(t: FrozenTrial | optuna.Trial) -> dict[str, Any]:
    """A trial's parameters; before its first suggestion, an enqueued trial holds them only as fixed_params."""
    if isinstance(t, FrozenTrial):
        return t.params or t.system_attrs.get("fixed_params") or {}
    return t.params or t.study._storage.get_trial_system_attrs(t._trial_id).get("fixed_params") or {}


def known_points(study: optuna.Study) -> list[FrozenTrial]:
    """Complete trials with parameters and values that trained a network of their own: candidates, and the
    baselines that are points of the space. What a sampler can model."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.params and t.values and "spec" in t.user_attrs and "duplicate_of" not in t.user_attrs]


def spec_of(t: FrozenTrial) -> dict[str, Any]:
    return t.user_attrs["spec"]


def enqueue_retry(study: optuna.Study, params: dict[str, Any], of: int) -> None:
    study.enqueue_trial(params, user_attrs={"retry_of": of})
