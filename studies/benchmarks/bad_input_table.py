"""Print the table of every bad input tried (tests/bad_inputs.py): the command, its exit code and its one line.

    python studies/benchmarks/bad_input_table.py > /tmp/table.md

The same cases run in CI as tests/test_bad_input.py, which also checks that none creates or
changes a file. Paths of the temporary folder the cases run in are shown as TMP.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from bad_inputs import CASES, make_world  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {**os.environ, "RANKSEARCH_CACHE": str(root / "cache")}
        world = make_world(root / "w", env)
        print("| bad input | command | exit | what it says (stderr, one line) |")
        print("| --- | --- | ---: | --- |")
        for case in CASES:
            args = case.args(world)
            proc = subprocess.run([sys.executable, "-m", "ranksearch", *args], capture_output=True, text=True, env=env)
            line = (proc.stderr.strip().splitlines() or [""])[-1].replace(str(root), "TMP").replace("|", "\\|")
            command = ("ranksearch " + shlex.join(args)).replace(str(root), "TMP").replace("|", "\\|")
            traceback = " **(traceback)**" if "Traceback" in proc.stderr else ""
            print(f"| {case.name} | `{command}` | {proc.returncode} | {line}{traceback} |", flush=True)


if __name__ == "__main__":
    main()
