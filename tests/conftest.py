import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_datasets() -> Path:
    """Real datasets: $RANKSEARCH_DATASETS, else ../shared/datasets beside the checkout."""
    return Path(os.environ.get("RANKSEARCH_DATASETS", ROOT.parent / "shared" / "datasets"))


def require_real(sub: str) -> Path:
    path = shared_datasets() / sub
    if not path.exists():
        pytest.skip(f"real dataset not found at {path}; set RANKSEARCH_DATASETS to the folder that holds it")
    return shared_datasets()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own tensor cache, so none reads another's (or the user's)."""
    monkeypatch.setenv("RANKSEARCH_CACHE", str(tmp_path_factory.mktemp("cache")))


def ranksearch(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real command line in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ranksearch", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env
    )
