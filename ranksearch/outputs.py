"""The files a run folder holds (trials.csv, front.json, config.json, summary.json), each written
atomically (``ranksearch.atomic``): a reader (or a crash) never sees half a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ranksearch.atomic import TEMP_MARK, check_writable, make_folder, remove_stale_temporaries, write_atomic
from ranksearch.config import SearchConfig
from ranksearch.results import Tables, front_records, trials_frame

__all__ = ["TEMP_MARK", "check_writable", "json_text", "make_folder", "remove_stale_temporaries", "write_atomic",
           "write_summary", "write_tables"]


def json_text(value: Any) -> str:
    """The JSON every ranksearch file is written with: indented, one trailing newline, stable."""
    return json.dumps(value, indent=2) + "\n"


def write_tables(tables: Tables, cfg: SearchConfig, out_dir: str | Path) -> None:
    """trials.csv, front.json and config.json."""
    out = make_folder(out_dir)
    write_atomic(out / "trials.csv", trials_frame(tables).to_csv(index=False))
    write_atomic(out / "front.json", json_text(front_records(tables.front, cfg, tables.parent_weights)))
    write_atomic(out / "config.json", json_text(cfg.to_dict()))


def write_summary(summary: dict[str, Any], out_dir: str | Path) -> Path:
    """summary.json: the verdict."""
    return write_atomic(Path(out_dir) / "summary.json", json_text(summary))
