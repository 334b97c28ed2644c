"""The long fault-injection run: many kill -9 / SIGINT / SIGTERM at random instants, then reruns to the end.

The same injector as tests/test_faults.py (30 faults on SQLite with 1 and 2 jobs, 15 on
PostgreSQL), for longer: every time the run folder's trials.csv and front.json must be whole,
no rerun may hang, and the last rerun must finish exactly the budget of distinct
configurations, none trained twice. Prints one line per fault and a summary.

    python studies/benchmarks/fault_injection.py --faults 100 --jobs 2
    python studies/benchmarks/fault_injection.py --faults 50 --storage postgresql://user@host/db
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from conftest import write_mnist_like  # noqa: E402
from faults import FaultLog, check_study, finish, inject, ranksearch_cmd  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--faults", type=int, default=100)
    parser.add_argument("--jobs", default="2")
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--storage", help="a PostgreSQL URL (default: the run folder's SQLite file)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = write_mnist_like(root / "data")
        out = root / "run"
        env = {**os.environ, "RANKSEARCH_CACHE": str(root / "cache")}
        study = f"faults-{args.seed}"
        cmd = ranksearch_cmd("run", "--dataset", "mnist", "--data-dir", str(data), "--epochs", "3", "--train-subset", "200",
                             "--budget", str(args.budget), "--out", str(out), "--study", study, "--jobs", args.jobs,
                             *(["--storage", args.storage] if args.storage else []))
        url = args.storage or f"sqlite:///{out / 'study.db'}"
        started = time.monotonic()
        log = FaultLog()
        rng = random.Random(args.seed)
        for i in range(args.faults):
            inject(cmd, env, out, url, faults=i + 1, rng=rng, log=log)
            sig, moment, at, code = log.injected[-1]
            print(f"{i + 1:>4} {sig:<8} {moment:<16} at {at:6.2f}s  exit {code}", flush=True)
        finish(cmd, env, log=log)
        check_study(url, study, args.budget)
    kinds = collections.Counter((s, m) for s, m, _, _ in log.injected)
    print(f"\n{len(log.injected)} faults ({', '.join(f'{s} {m}: {n}' for (s, m), n in sorted(kinds.items()))}); "
          f"{log.reruns} final rerun(s); longest single invocation {log.longest_run:.0f}s; "
          f"all {time.monotonic() - started:.0f}s. Budget of {args.budget} finished exactly, no configuration trained "
          "twice, nothing left running, outputs whole after every fault.")


if __name__ == "__main__":
    main()
