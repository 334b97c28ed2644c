"""Which embedded storage holds up under N local training processes? SQLite against Optuna's journal file.

Runs the real command (``ranksearch run --jobs N --pruner none``) on a generated dataset whose
candidates train in about a second, so the processes hit the storage as often as they ever
will, once per storage and repeat. Then it reads each study back and prints: candidates
finished against the budget, FAIL or RUNNING trials left behind (lost work), configurations
trained twice, wall time, and the share of the jobs' time spent outside training (sampler,
storage, duplicate checks: the ``overhead_seconds`` each trial records).

    python studies/benchmarks/storage_writers.py --jobs 4 --budget 40 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from conftest import write_mnist_like  # noqa: E402  (the tests' generated MNIST-format dataset)


def measure(url: str, folder: Path, data: Path, jobs: int, budget: int) -> dict:
    out = folder / "run"
    env = {**os.environ, "RANKSEARCH_CACHE": str(folder / "cache")}
    cmd = [sys.executable, "-m", "ranksearch", "run", "--dataset", "mnist", "--data-dir", str(data), "--epochs", "2",
           "--train-subset", "300", "--budget", str(budget), "--jobs", str(jobs), "--pruner", "none",
           "--out", str(out), "--study", "writers"] + (["--storage", url] if url else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    from ranksearch.storage import open_storage

    study = optuna.load_study(study_name="writers", storage=open_storage(url or f"sqlite:///{out / 'study.db'}"))
    trials = study.get_trials(deepcopy=False)
    trained = [t for t in trials if "val_curve" in t.user_attrs and "duplicate_of" not in t.user_attrs]
    keys = [t.user_attrs["config_key"] for t in trained]
    done = [t for t in trained if t.state.name in ("COMPLETE", "PRUNED")]
    train_s = sum(t.user_attrs.get("seconds", 0.0) for t in trained)
    over_s = sum(t.user_attrs.get("overhead_seconds", 0.0) for t in trained)
    return {
        "finished": len(done), "lost": sum(t.state.name in ("FAIL", "RUNNING") for t in trials),
        "twice": len(keys) - len(set(keys)), "wall": wall, "overhead": over_s / max(1e-9, train_s + over_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--budget", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    print(f"{args.jobs} jobs on {os.cpu_count()} CPUs, budget {args.budget}, candidates of about a second each")
    print(f"{'storage':<8} {'repeat':>6} {'finished':>8} {'lost':>4} {'twice':>5} {'wall s':>7} {'outside training':>16}")
    for repeat in range(args.repeats):
        for name in ("sqlite", "journal"):
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                data = write_mnist_like(folder / "data", n_train=400, n_test=100)
                url = f"journal:///{folder / 'study.log'}" if name == "journal" else ""
                r = measure(url, folder, data, args.jobs, args.budget)
            print(f"{name:<8} {repeat:>6} {r['finished']:>5}/{args.budget:<2} {r['lost']:>4} {r['twice']:>5} "
                  f"{r['wall']:>7.1f} {100 * r['overhead']:>15.1f}%", flush=True)


if __name__ == "__main__":
    main()
