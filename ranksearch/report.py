"""``ranksearch report``: a study's page and verdict, written beside its tables (data -> figures -> page)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ranksearch.config import SearchConfig
from ranksearch.errors import UserError
from ranksearch.outputs import check_writable, make_folder, remove_stale_temporaries, write_atomic, write_summary, write_tables
from ranksearch.page import render_html
from ranksearch.report_data import report_data
from ranksearch.results import Tables, study_tables
from ranksearch.storage import open_run
from ranksearch.verdict import verdict


def write_report(tables: Tables, cfg: SearchConfig, study_name: str, out_dir: str | Path, run_dir: str | None = None) -> Path:
    """Write ``out_dir/report.html`` and return its path; its retrain commands name ``run_dir``."""
    make_folder(out_dir)
    return write_atomic(Path(out_dir) / "report.html", render_html(report_data(tables, cfg, study_name, run_dir)))


def rebuild_report(run_dir: str | None, storage: str | None, study_name: str | None, out: str | None) -> Path:
    """``ranksearch report``: the report of a run folder, or of a study by storage URL, written to ``out``
    with its ``summary.json`` (the verdict).

    Reads the study only: the run folder's trials.csv, front.json and config.json are left as they are.
    A folder holds one study's files: the report of another study of its storage needs ``out``.
    """
    run = open_run(run_dir, storage, study_name)
    target = Path(out or run_dir or ".")
    if run_dir is not None and run.folder is None and target.resolve() == Path(run_dir).resolve():
        raise UserError(f"study {run.study.study_name!r} is not the study of {run_dir} (its files are another "
                        f"study's): give --out DIR to write its report into a folder of its own")
    if out:
        check_writable(target, "--out")
    else:
        check_writable(target, "run folder", "give --out DIR to write the report elsewhere")
    make_folder(target)
    remove_stale_temporaries(target)
    tables = study_tables(run.study, run.config, run.folder)
    same = run.folder is not None and target.resolve() == run.folder.resolve()
    if not same or not (target / "trials.csv").exists():
        # A report folder of its own gets the tables too, and a config.json that names the study's storage.
        write_tables(tables, run.config if same else replace(run.config, storage=run.url), target)
    write_summary(verdict(tables, replace(run.config, study_name=run.study.study_name)).to_dict(), target)
    return write_report(tables, run.config, run.study.study_name, target, str(target))
