"""Where a study lives: storages by URL, the embedded run-folder file, opening a ranksearch study, and the
few storage calls Optuna keeps private (claiming a queued trial, failing an orphan, heartbeats, intermediate values).

Used by run, worker, report and export alike. Opening never writes to a study it refuses: a
study made by something else, or for other data or settings, is one clear error and stays as
it was. Commands that only read never create a database.
"""

from __future__ import annotations

import threading
import time
import warnings
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

try:
    import fcntl
except ImportError:  # not on Windows: runs there do not share a folder at the same moment
    fcntl = None

import optuna
from optuna.trial import FrozenTrial, TrialState

from ranksearch import records
from ranksearch.atomic import make_folder
from ranksearch.config import SearchConfig, read_json
from ranksearch.errors import RunFailure, UserError
from ranksearch.objectives import get_objective
from ranksearch.samplers import make_sampler
from ranksearch.storage_url import EMBEDDED_FILE, embedded_url, journal_path, sqlite_path, without_password

# The study's own bookkeeping, as study attributes.
WALL = "wall_seconds"  # studies written before intervals: the sum of the invocations' wall times
WALL_INTERVALS = "wall_intervals"
WARM_STARTS = "warm_starts"
PAPER_QUEUED = "paper_models_enqueued"
REQUEUED = "requeued"
HEARTBEAT_SECONDS = 30
CREATION_SECONDS = 10.0  # how long a run waits for a study created at the same moment to get its configuration
# What makes two runs the same study: changing any of these would mix incomparable trials.
SIGNATURE_FIELDS = ("family", "objectives", "model", "start", "finetune", "warm_start", "warm_shares")  # queued once: a rerun cannot change them


def _check_sqlite_file(path: Path) -> None:
    """A read-only command must not turn a missing, empty or foreign file into a new database."""
    if not path.is_file():
        raise UserError(f"{path}: no such study database; give the storage that `ranksearch run` used")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head != b"SQLite format 3\x00":
        what = "an empty file" if not head else "not an SQLite database"
        raise UserError(f"{path}: {what}, not a ranksearch study; restore it from a copy or start a new run")


def open_storage(url: str, create: bool = True) -> optuna.storages.BaseStorage:
    """An RDB storage with heartbeats (so a crashed worker's trial is failed and retried), or
    Optuna's journal file (``journal:///path``; one machine only: it has no heartbeats).

    ``create=False`` refuses a file that does not exist or is not a study, instead of creating one.
    """
    journal = journal_path(url)
    if (file := journal or sqlite_path(url)) is not None and create:  # a new study's folder, as --out makes its own
        make_folder(file.parent)
    if journal is not None:
        if not create and not (journal.is_file() and journal.stat().st_size > 0):
            raise UserError(f"{journal}: no such study journal (or an empty file); give the storage that `ranksearch run` used")
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        try:
            return JournalStorage(JournalFileBackend(str(journal)))
        except OSError as e:
            raise UserError(f"cannot open storage {url}: {e.strerror}") from None
    if not url.startswith(("sqlite:///", "postgresql", "mysql")):
        raise UserError(f"storage {url!r}: expected an Optuna RDB URL such as sqlite:///study.db or "
                        "postgresql://user@host/db, or journal:///path/to/file.log")
    path = sqlite_path(url)
    if path is not None and not create:
        _check_sqlite_file(path)
    engine = {"connect_args": {"timeout": 60}} if path is not None else {"pool_pre_ping": True}
    try:
        with warnings.catch_warnings(), _one_creator(path if create else None):
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats, their retry callback
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=3 * HEARTBEAT_SECONDS,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3))
    except Exception as e:  # sqlalchemy's errors name the cause in their first line
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "DB access module" in reason or "No module named" in reason:
            raise UserError(f"cannot open storage {url}: its database driver is not installed "
                            "(for PostgreSQL: pip install 'ranksearch[postgres]')") from None
        if path is not None:
            raise RunFailure(f"cannot open storage {url}: {reason}; the file may be damaged: restore it from a copy "
                             "or start a new run folder") from None
        raise RunFailure(f"cannot open storage {url}: {reason}; check the URL, that the server runs and accepts you "
                         "(a password comes from the URL, PGPASSWORD or ~/.pgpass)") from None
    if path is not None:
        _serialize_sqlite_transactions(storage.engine)
    return storage


@contextmanager
def _one_creator(path: Path | None) -> Iterator[None]:
    """One process at a time opens (and perhaps creates the tables of) a study file: Optuna's schema set-up
    is not safe against runs started at the same moment on one folder. An advisory lock on the file itself
    (flock, apart from SQLite's own locks); nothing to do for a server, or where there is no flock."""
    if path is None or fcntl is None or not path.parent.is_dir():
        yield
        return
    with open(path, "ab") as fh:  # an empty file is an empty SQLite database
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _serialize_sqlite_transactions(engine) -> None:
    """Every SQLite transaction begins with ``BEGIN IMMEDIATE``, so one process at a time reads and writes.

    Optuna claims a queued trial by reading its state and then writing RUNNING. Python's sqlite3
    begins a transaction only at the write, so two processes could both read WAITING and both
    claim the trial (DECISIONS.md). Holding the
    write lock from the start of the transaction (SQLAlchemy's documented recipe for pysqlite)
    makes the claim atomic; other processes wait for it (the 60 s busy timeout).
    """
    import sqlalchemy

    @sqlalchemy.event.listens_for(engine, "connect")
    def _no_driver_begin(dbapi_connection, record) -> None:
        dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own

    @sqlalchemy.event.listens_for(engine, "begin")
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened while Optuna checked the schema are made again, with the hooks


def _names(storage: optuna.storages.BaseStorage) -> list[str]:
    return [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]


def signature(cfg: SearchConfig) -> dict:
    d = cfg.to_dict()
    data = {k: v for k, v in d["data"].items() if k != "data_dir"}
    return {"data": data, "recipe": d["recipe"], "seed": cfg.seed, **{k: d[k] for k in SIGNATURE_FIELDS}}


def _saved_config(study: optuna.Study, where: str, wait: bool = False) -> SearchConfig:
    """The study's saved configuration; with ``wait``, an empty study is given a few seconds to get it
    (a process that started at the same moment created the study and is saving its configuration)."""
    saved = records.saved_config(study)
    deadline = time.monotonic() + CREATION_SECONDS
    while saved is None and wait and time.monotonic() < deadline and not study.get_trials(deepcopy=False):
        time.sleep(0.2)
        saved = records.saved_config(study)
    if saved is None:
        raise UserError(f"study {study.study_name!r} in {where} was not made by ranksearch; choose another --study")
    try:
        return SearchConfig.from_dict(saved, f"study {study.study_name!r}")
    except ValueError as e:
        raise UserError(f"{e}; was it made by a newer ranksearch?") from None


def open_study(cfg: SearchConfig, url: str, sampler_seed: int | None, create: bool) -> optuna.Study:
    """Load the study, or create it; refuse one created for another dataset, space or recipe.

    The check happens before anything is written, so a refused command leaves the storage as it was.
    """
    storage = open_storage(url, create=create)
    sampler = make_sampler(cfg.sampler, sampler_seed)
    if cfg.study_name in _names(storage):
        study = optuna.load_study(study_name=cfg.study_name, storage=storage, sampler=sampler)
        old = _saved_config(study, url, wait=create)
        if signature(old) != signature(cfg):
            diff = [k for k in signature(cfg) if signature(cfg)[k] != signature(old)[k]]
            raise UserError(
                f"study {cfg.study_name!r} was created for dataset {old.data.dataset}, family {old.family}, "
                f"{old.recipe.epochs} epochs ({', '.join(diff)} differ); rerun with the same settings, "
                "or give a new --study / --out"
            )
        if create and old != cfg:  # a rerun may raise the budget or change the pruner: every job reads it here
            records.save_config(study, cfg.to_dict())
        return study
    if not create:
        raise UserError(f"no study {cfg.study_name!r} in {url}; start one with `ranksearch run`")
    try:
        study = optuna.create_study(
            study_name=cfg.study_name, storage=storage, sampler=sampler,
            directions=["maximize"] + ["minimize"] * len(cfg.objectives),
        )
    except optuna.exceptions.DuplicatedStudyError:  # a run started at the same moment created it: join it
        return open_study(cfg, url, sampler_seed, create)
    with warnings.catch_warnings():  # metric names are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["val_accuracy"] + [get_objective(o).column for o in cfg.objectives])
    records.save_config(study, cfg.to_dict())
    return study


def load_study(url: str, name: str, sampler: optuna.samplers.BaseSampler | None = None) -> tuple[optuna.Study, SearchConfig]:
    """An existing ranksearch study and its configuration; creates nothing."""
    path = sqlite_path(url) or journal_path(url)
    if path is not None and not path.exists():
        raise UserError(f"no study {name!r} in {url}: {path} does not exist (a folder without its {EMBEDDED_FILE} keeps only "
                        "its tables, trials.csv and front.json); give the storage that `ranksearch run` used")
    storage = open_storage(url, create=False)
    if name not in (names := _names(storage)):
        raise UserError(f"no study {name!r} in {url}; its studies: {', '.join(sorted(names)) or 'none'} (`ranksearch run` starts one)")
    study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
    return study, replace(_saved_config(study, url), storage=url)


@dataclass
class Run:
    """A run folder (or a study found by storage URL and name), opened for reading."""

    study: optuna.Study
    config: SearchConfig
    folder: Path | None
    url: str


def folder_url(folder: Path, cfg: SearchConfig) -> str:
    """The storage of a run folder: its own study.db unless the run used another storage.

    Folders written before storages were recorded relative to them hold an absolute SQLite URL
    to a ``study.db``; a copy of such a folder reads its own file.
    """
    path = sqlite_path(cfg.storage or "")
    if cfg.storage is None or (path is not None and path.name == EMBEDDED_FILE and (folder / EMBEDDED_FILE).exists()):
        return embedded_url(folder)
    return cfg.storage


def _embedded_names(folder: Path) -> list[str]:
    """The study names in a run folder's study.db, read without writing (none if it is not a readable study file)."""
    import sqlite3

    path = folder / EMBEDDED_FILE
    if not path.is_file() or path.stat().st_size == 0:
        return []
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)) as con:
            return [row[0] for row in con.execute("select study_name from studies")]
    except sqlite3.Error:  # not a study file, or damaged: opening it says so
        return []


def _comparable(url: str) -> str:
    """A URL as two runs name the same storage: a study file by its absolute path, never a password."""
    path = sqlite_path(url)
    return f"sqlite:///{path.resolve()}" if path is not None else without_password(url)


def check_folder_study(folder: Path, cfg: SearchConfig) -> None:
    """One study per run folder: refuse (one line, before anything is written) a folder whose files or study.db
    belong to another study, or to the same name in another storage."""
    url = _comparable(cfg.storage or embedded_url(folder))
    held = None
    if (folder / "config.json").is_file():
        saved = read_run_config(folder)
        if saved.study_name != cfg.study_name or _comparable(folder_url(folder, saved)) != url:
            held = f"study {saved.study_name!r} (dataset {saved.data.dataset}, family {saved.family}, in {without_password(folder_url(folder, saved))})"
    others = [n for n in _embedded_names(folder) if n != cfg.study_name or url != embedded_url(folder)]
    if held is None and others:
        held = f"study {others[0]!r} in its {EMBEDDED_FILE}"
    if held is not None:
        raise UserError(f"--out {folder} holds {held}; a run folder holds one study: give another --out for study "
                        f"{cfg.study_name!r}, or continue that study with `ranksearch run --config {folder / 'config.json'} --out {folder}`")


def read_run_config(folder: Path) -> SearchConfig:
    if not (folder / "config.json").is_file():
        raise UserError(f"{folder}: not a run folder (no config.json); give the --out folder of `ranksearch run`")
    try:
        return SearchConfig.from_dict(read_json(folder / "config.json"), str(folder / "config.json"))
    except ValueError as e:
        raise UserError(f"{folder / 'config.json'}: not a ranksearch run configuration ({e})") from None


def open_run(run_dir: str | Path | None = None, storage: str | None = None, study_name: str | None = None) -> Run:
    """A run folder's study, or the study ``study_name`` in ``storage``; reads only.

    A ``study_name`` other than the folder's own study is read with its own configuration, and
    the ``Run`` has no folder: the folder's files describe another study.
    """
    if run_dir is not None:
        folder = Path(run_dir)
        cfg = read_run_config(folder)
        url = storage or folder_url(folder, cfg)
        study, saved = load_study(url, study_name or cfg.study_name)
        if study.study_name != cfg.study_name:  # another study of the folder's storage: its own settings, no folder
            return Run(study, saved, None, url)
        return Run(study, cfg, folder, url)
    if not (storage and study_name):
        raise UserError("give a run folder, or --storage URL and --study NAME")
    study, cfg = load_study(storage, study_name)
    return Run(study, cfg, None, storage)


# -- the storage calls Optuna keeps private ---------------------------------------------------
def fail_trial(study: optuna.Study, t: FrozenTrial) -> bool:
    """Mark a running trial FAIL; False when it finished meanwhile."""
    try:
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        return True
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def claim_waiting(study: optuna.Study, wanted: Callable[[FrozenTrial], bool]) -> optuna.Trial | None:
    """Claim (WAITING -> RUNNING, atomically) the first queued trial ``wanted`` picks, or None."""
    storage = study._storage
    for t in storage.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.WAITING,)):
        if not wanted(t):
            continue
        try:
            if storage.set_trial_state_values(t._trial_id, state=TrialState.RUNNING):  # False: another process won it
                return optuna.Trial(study, t._trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def write_curve(study: optuna.Study, trial: optuna.Trial, curve: list[float]) -> None:
    """The learning curve as intermediate values, which optuna-dashboard plots (``Trial.report``
    refuses multi-objective studies; the storage does not). Complete trials only: TPE reads a
    pruned trial's intermediate values as one objective and fails in a multi-objective study."""
    for epoch, acc in enumerate(curve, start=1):
        study._storage.set_trial_intermediate_value(trial._trial_id, epoch, acc)


@contextmanager
def heartbeat(study: optuna.Study, trial: optuna.Trial) -> Iterator[None]:
    """Record the trial's heartbeat now and every interval while the block runs (RDB storages)."""
    storage = study._storage
    interval = storage.get_heartbeat_interval() if hasattr(storage, "get_heartbeat_interval") else None
    if not interval:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                storage.record_heartbeat(trial._trial_id)
            except Exception:  # a storage hiccup must not kill training; the next beat retries
                pass
            if stop.wait(interval):
                return

    storage.record_heartbeat(trial._trial_id)
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


# -- the study's own bookkeeping --------------------------------------------------------------
def wall_seconds(study: optuna.Study) -> float:
    """Wall time of the invocations that made the study: the union of their intervals, so runs that
    shared the study at the same time count once (plus the total of studies written before intervals)."""
    merged: list[list[float]] = []
    for start, end in sorted(study.user_attrs.get(WALL_INTERVALS, [])):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return float(study.user_attrs.get(WALL, 0.0)) + sum(end - start for start, end in merged)


def add_wall_interval(study: optuna.Study, start: float, end: float) -> None:
    """Record one invocation's interval (``time.time()`` at its start and end)."""
    study.set_user_attr(WALL_INTERVALS, list(study.user_attrs.get(WALL_INTERVALS, [])) + [[start, end]])


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
