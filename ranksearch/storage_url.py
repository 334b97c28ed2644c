"""Storage URLs: where one points (a run folder's own study file, a journal), and how it is shown and kept.

A password is never shown, printed or stored. A URL such as ``postgresql://user:secret@host/db`` is shown as ``postgresql://user:***@host/db``
(``masked``) wherever it appears in words (progress lines, every error message), and kept as
``postgresql://user@host/db`` (``without_password``) wherever it is written down (the run
folder's ``config.json``, the study's saved configuration). A stored URL connects the way libpq
users expect: psycopg takes the password from ``PGPASSWORD`` or the ``~/.pgpass`` file. A
password given as a query parameter (``?password=...``) is treated the same way. This module
knows nothing of Optuna: it reads and rewrites text.
"""

from __future__ import annotations

import re
from pathlib import Path

EMBEDDED_FILE = "study.db"

# scheme://user:password@host... : the password runs to the last "@" before the path.
_USERINFO = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):([^\s/]*)@")
_QUERY = re.compile(r"([?&]password=)[^&\s'\"]*", re.IGNORECASE)
MASK = "***"


def masked(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***`` (any text: a URL, an error message)."""
    return _QUERY.sub(rf"\g<1>{MASK}", _USERINFO.sub(rf"\g<1>:{MASK}@", text))


def without_password(url: str) -> str:
    """The URL to write down: the same storage, its password left out (PGPASSWORD or ~/.pgpass supply it)."""
    url = _USERINFO.sub(r"\g<1>@", url)
    url = re.sub(r"([?&])password=[^&]*&?", r"\g<1>", url, flags=re.IGNORECASE)
    return url.rstrip("?&")


def has_password(url: str) -> bool:
    return without_password(url) != url


def embedded_url(folder: str | Path) -> str:
    """The SQLite URL of a run folder's own study file."""
    return f"sqlite:///{(Path(folder) / EMBEDDED_FILE).resolve()}"


def sqlite_path(url: str) -> Path | None:
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None


def journal_path(url: str) -> Path | None:
    return Path(url[len("journal:///"):]) if url.startswith("journal:///") else None
