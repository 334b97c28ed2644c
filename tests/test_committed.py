"""The committed studies read as they were written: their verdict rebuilds byte for byte, their trials.csv value for value."""

import json
import shutil

import pandas as pd
import pytest

from conftest import ROOT
from ranksearch.report import rebuild_report
from ranksearch.results import study_tables, trials_frame
from ranksearch.storage import open_run

STUDIES = sorted(p.parent.name for p in (ROOT / "studies").glob("*/study.db"))


@pytest.mark.parametrize("name", STUDIES)
def test_a_committed_study_reads_as_its_trials_csv(name):
    folder = ROOT / "studies" / name
    run = open_run(str(folder))
    ours = trials_frame(study_tables(run.study, run.config))
    committed = pd.read_csv(folder / "trials.csv")
    assert len(ours) == len(committed)
    rebuilt = pd.read_csv(pd.io.common.StringIO(ours.to_csv(index=False)))
    for column in committed.columns:  # a file written before a column existed lacks it
        assert column in rebuilt.columns, column
        pd.testing.assert_series_equal(rebuilt[column], committed[column], check_dtype=False, rtol=1e-9, obj=column)


@pytest.mark.parametrize("name", [n for n in STUDIES if (ROOT / "studies" / n / "summary.json").exists()])
def test_report_rebuilds_a_committed_summary_byte_for_byte(name, tmp_path):
    folder = tmp_path / name
    shutil.copytree(ROOT / "studies" / name, folder)
    rebuild_report(str(folder), None, None, None)
    committed = (ROOT / "studies" / name / "summary.json").read_text()
    assert (folder / "summary.json").read_text() == committed
    for file in ("trials.csv", "front.json", "config.json"):
        assert (folder / file).read_bytes() == (ROOT / "studies" / name / file).read_bytes(), f"{file} was rewritten"
    assert json.loads(committed)["sentences"]
