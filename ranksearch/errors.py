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


def storage_failure(error: BaseException) -> RunFailure | None:
    """The one line for a storage that failed under us (a damaged study.db, a server gone), else None."""
    kind = type(error)
    if not (kind.__module__.startswith("sqlalchemy") or kind.__name__ == "StorageInternalError"):
        return None
    cause = error.__cause__ or error
    first = (str(getattr(cause, "orig", None) or cause).strip().splitlines() or [kind.__name__])[0]
    return RunFailure(f"the study storage failed ({first}); if it is a study.db file it may be damaged: "
                      "restore it from a copy or start a new run folder; if it is a server, check that it runs")
