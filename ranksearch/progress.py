"""Progress for long work: a redrawn line on a terminal, one plain line per event otherwise."""

from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self._open = False

    def update(self, text: str) -> None:
        """A transient status (the current epoch): redrawn in place on a terminal, else dropped."""
        if self.live:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
            self._open = True

    def line(self, text: str) -> None:
        """A lasting event (an epoch finished, a trial finished): always printed on its own line."""
        if self._open:
            self.stream.write("\r\033[K")
            self._open = False
        self.stream.write(text + "\n")
        self.stream.flush()


def bar(done: int, total: int, width: int = 20) -> str:
    filled = int(width * done / max(1, total))
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total}"
