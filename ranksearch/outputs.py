"""The files a run folder holds, each written atomically: a reader (or a crash) never sees half a file.

Every file is written to a temporary file in the same folder, flushed to disk, and renamed over
the old one; a failure on the way removes the temporary and leaves the old file as it was.
Temporaries a killed process left behind are removed by the next writer of the folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ranksearch.config import SearchConfig
from ranksearch.results import Tables, front_records, trials_frame

TEMP_MARK = ".tmp-"


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in its folder and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")
    raw = data.encode() if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove temporaries that a process killed between its write and its rename left in ``folder``."""
    removed = []
    for tmp in Path(folder).glob(f".*{TEMP_MARK}*"):
        pid = tmp.name.rpartition(TEMP_MARK)[2]
        if pid.isdigit() and int(pid) != os.getpid():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def json_text(value: Any) -> str:
    """The JSON every ranksearch file is written with: indented, one trailing newline, stable."""
    return json.dumps(value, indent=2) + "\n"


def write_tables(tables: Tables, cfg: SearchConfig, out_dir: str | Path) -> None:
    """trials.csv, front.json and config.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "trials.csv", trials_frame(tables).to_csv(index=False))
    write_atomic(out / "front.json", json_text(front_records(tables.front, cfg, tables.parent_weights)))
    write_atomic(out / "config.json", json_text(cfg.to_dict()))


def write_summary(summary: dict[str, Any], out_dir: str | Path) -> Path:
    """summary.json: the verdict."""
    return write_atomic(Path(out_dir) / "summary.json", json_text(summary))
