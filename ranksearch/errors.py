"""The exceptions a user's mistake or a failing environment raise; the CLI prints each as one line.

No message ever shows a storage password: every one is masked as it is made
(``ranksearch.storage_url``), whoever raises it and whatever text it quotes.
"""

from __future__ import annotations

import errno
from pathlib import Path

from ranksearch.storage_url import masked


class UserError(Exception):
    """Bad input from the user: a message that says what is wrong and how to fix it (exit code 2)."""

    exit_code = 2

    def __init__(self, message: str = "") -> None:
        super().__init__(masked(str(message)))


class RunFailure(UserError):
    """The command was right but something failed while it ran (a storage, a training job): exit code 1."""

    exit_code = 1


class Diverged(RunFailure):
    """Training diverged: the loss or the weights are no longer finite numbers (exit code 1)."""

    def __init__(self, at: float) -> None:
        super().__init__(f"the training diverged at epoch {at:g} (the loss or the weights are NaN or infinite): "
                         "lower the learning rate (the recipe's lr) and train again; nothing was saved")
        self.at = at


FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class CannotWrite(UserError):
    """A file could not be written; the file it would have replaced is as it was.

    A full disk (or quota) is a failure while running (exit code 1): the same command works once
    there is space. A folder that refuses writing (read-only, not ours) is the user's to choose
    (exit code 2).
    """

    def __init__(self, path: str | Path, error: OSError) -> None:
        self.path, self.reason = Path(path), masked(error.strerror or str(error))
        self.full = error.errno in FULL
        self.exit_code = 1 if self.full else 2
        how = ("the disk is full: free space there and run the command again" if self.full
               else "choose a folder you can write to")
        super().__init__(f"cannot write {path}: {error.strerror or error}; any earlier file there is as it was; {how}")


def model_failure(who: str, source: str, error: BaseException) -> UserError:
    """The one line for a user's network whose own code raised while it trained: rerunning cannot help (exit 2)."""
    first = (str(error).strip().splitlines() or [""])[0]
    return UserError(f"{who}: your network {source} raised {type(error).__name__}: {first}; rerunning cannot help: "
                     "fix the network (try a training step of it on a batch in Python) and run again")


def storage_failure(error: BaseException) -> RunFailure | None:
    """The one line for a storage that failed under us (a damaged study.db, a server gone), else None."""
    kind = type(error)
    if not (kind.__module__.startswith("sqlalchemy") or kind.__name__ == "StorageInternalError"):
        return None
    cause = error.__cause__ or error
    first = (str(getattr(cause, "orig", None) or cause).strip().splitlines() or [kind.__name__])[0]
    if "disk is full" in first or "No space left" in first:
        return RunFailure(f"the study storage failed ({first}): the disk is full; free space there and rerun the same "
                          "command to continue")
    return RunFailure(f"the study storage failed ({first}); if it is a study.db file it may be damaged: "
                      "restore it from a copy or start a new run folder; if it is a server, check that it runs")
