"""Writing a file atomically: a reader (or a crash) never sees half a file, and a failure is one line.

A file is written to a temporary file in the same folder, flushed to disk, and renamed over the
old one; a failure on the way removes the temporary and leaves the old file as it was, and is one
line (``CannotWrite``: a full disk exit 1, a folder that refuses writing exit 2). Temporaries a
killed process left behind are removed by the next writer of that file and by the next run or
report in the folder; those of a process still running (another run sharing the folder) are
left to it.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from ranksearch.errors import CannotWrite, UserError

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
    except BaseException as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # a folder that refuses even that holds no temporary of ours
            pass
        if isinstance(e, OSError):
            raise CannotWrite(path, e) from None
        raise
    remove_stale_temporaries(path.parent, path.name)  # of an earlier writer of this file killed before its rename
    return path


def check_writable(folder: str | Path, what: str, fix: str = "choose another folder") -> None:
    """Refuse (one line) a folder that is a file or cannot be written, or whose nearest existing parent cannot."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{what} {folder}: a file is in the way; {fix}")
    nearest = folder if folder.is_dir() else next((p for p in folder.resolve().parents if p.exists()), Path("/"))
    if not os.access(nearest, os.W_OK):
        raise UserError(f"{what} {folder}: {nearest} is not writable; {fix}")


def make_folder(folder: str | Path) -> Path:
    """Create ``folder`` (and its parents) if needed; one line when that cannot be done."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CannotWrite(folder, e) from None
    return folder


def check_parent(path: str | Path) -> Path:
    """The folder the file ``path`` will be written in, refused in one line when it could not be made or
    written (a file in the way, a read-only parent); nothing is created, so a command checks this before
    any work and a later bad input leaves no empty folder behind."""
    if Path(path).is_dir():
        raise UserError(f"{path} is a folder; give the path of a file to write, in it or elsewhere")
    folder = Path(path).resolve().parent
    nearest = next(p for p in (folder, *folder.parents) if p.exists())
    if not nearest.is_dir():
        raise UserError(f"{path}: {nearest} is a file, not a folder; choose another path")
    if not os.access(nearest, os.W_OK):
        raise UserError(f"{path}: folder {nearest} is not writable; choose another path")
    return folder


def make_parent(path: str | Path) -> Path:
    """Create the folder the file ``path`` will be written in, as ``--out`` creates its folder."""
    return make_folder(check_parent(path))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(folder: str | Path, name: str = "*") -> list[Path]:
    """Remove temporaries (of the file ``name``, or of any) that a process killed between its write and its
    rename left in ``folder``; a running process's are its own."""
    removed = []
    for tmp in Path(folder).glob(f".{name if name == '*' else glob.escape(name)}{TEMP_MARK}*"):
        pid = tmp.name.rpartition(TEMP_MARK)[2]
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            try:
                tmp.unlink(missing_ok=True)
            except OSError:  # a folder we may not write: nothing of ours to tidy
                continue
            removed.append(tmp)
    return removed
