"""Train the LightLayers paper's models with its recipe (and ours) and set them beside its Tables 1-3.

Every model the paper reports for MNIST, Fashion-MNIST and CIFAR-10 (CIFAR-10: Conv2D,
SeparableConv2D and Light k=3 unless --all-cifar) is trained twice on our split (10 % of the
training set held out, stratified, seed 0; the test set only reports): with the ``paper``
recipe, made faithful to the authors' Keras code where it matters for accuracy
(ranksearch.config.make_recipe), and with the ``fast`` recipe. Two training processes with one
thread each share the two cores. Results are appended to ``results.csv`` (a rerun skips what is
there), and ``table.md`` sets our test accuracy beside the paper's for every row.

    python studies/paper-reproduction/reproduce.py --data-dir ../shared/datasets
    python studies/paper-reproduction/reproduce.py --recipes paper --datasets mnist,fashion-mnist   # a part
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIELDS = ["dataset", "method", "k", "recipe", "trainable_params", "keras_params", "val_accuracy", "test_accuracy", "epochs", "seconds"]


def jobs(all_cifar: bool, datasets: list[str], recipes: list[str]) -> list[tuple[str, str, int | None, str]]:
    from lightlayers.paper import paper_results

    out = []
    for recipe in recipes:  # every model with the first recipe before any with the second
        for row in paper_results():
            if row.dataset not in datasets:
                continue
            if row.dataset == "cifar10" and not all_cifar and row.method == "LightLayers" and row.k != 3:
                continue
            out.append((row.dataset, row.method, row.k, recipe))
    return out


def train_one(job: tuple[str, str, int | None, str], data_dir: str) -> dict:
    import torch

    torch.set_num_threads(1)
    import ranksearch
    from lightlayers.paper import METHOD_FAMILIES

    dataset, method, k, recipe = job
    result = ranksearch.train(dataset=dataset, data_dir=data_dir, recipe=recipe, family=METHOD_FAMILIES[method], rank=k,
                              device="cpu", progress=False)
    s = result.summary
    return {"dataset": dataset, "method": method, "k": k or "", "recipe": recipe, "trainable_params": s["trainable_params"],
            "keras_params": s["keras_params"], "val_accuracy": s["val_accuracy"], "test_accuracy": s["test_accuracy"],
            "epochs": s["epochs"], "seconds": s["seconds"]}


def _worker(args: tuple) -> dict:
    return train_one(*args)


def table(results: Path) -> str:
    from lightlayers.paper import paper_results

    ours = {(r["dataset"], r["method"], r["k"], r["recipe"]): r for r in csv.DictReader(results.open())}
    lines = ["| dataset | model | params (paper, Keras) | params (ours, trainable) | paper test | ours, paper recipe: test (val) | difference | ours, fast recipe: test (val) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for p in paper_results():
        key = (p.dataset, p.method, str(p.k or ""))
        paper_run, fast_run = ours.get(key + ("paper",)), ours.get(key + ("fast",))
        if paper_run is None and fast_run is None:
            continue
        name = p.label

        def cell(r):
            return f"{float(r['test_accuracy']):.4f} ({float(r['val_accuracy']):.4f})" if r else "not run"

        diff = f"{100 * (float(paper_run['test_accuracy']) - p.test_accuracy):+.2f} pts" if paper_run else ""
        trainable = (paper_run or fast_run)["trainable_params"]
        lines.append(f"| {p.dataset} | {name} | {p.keras_params:,} | {int(trainable):,} | {p.test_accuracy:.4f} | "
                     f"{cell(paper_run)} | {diff} | {cell(fast_run)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", default="../shared/datasets")
    parser.add_argument("--all-cifar", action="store_true", help="every CIFAR-10 model of the paper, not only three")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--datasets", default="mnist,fashion-mnist,cifar10", help="comma-separated")
    parser.add_argument("--recipes", default="paper,fast", help="comma-separated, in order")
    args = parser.parse_args()
    results = HERE / "results.csv"
    done = set()
    if results.exists():
        done = {(r["dataset"], r["method"], r["k"], r["recipe"]) for r in csv.DictReader(results.open())}
    todo = [j for j in jobs(args.all_cifar, args.datasets.split(","), args.recipes.split(",")) if (j[0], j[1], str(j[2] or ""), j[3]) not in done]
    print(f"{len(todo)} trainings to go ({len(done)} done)", flush=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with mp.get_context("spawn").Pool(args.processes) as pool:
        for row in pool.imap_unordered(_worker, [(j, args.data_dir) for j in todo]):
            new = not results.exists()
            with results.open("a", newline="") as fh:
                writer = csv.DictWriter(fh, FIELDS)
                if new:
                    writer.writeheader()
                writer.writerow(row)
            print(f"{row['dataset']:<14} {row['method']:<16} {row['k']!s:>2} {row['recipe']:<6} "
                  f"test {row['test_accuracy']:.4f}  val {row['val_accuracy']:.4f}  {row['seconds']:.0f}s", flush=True)
            (HERE / "table.md").write_text(table(results))  # after every row: a stopped run leaves a table
    print((HERE / "table.md").read_text())


if __name__ == "__main__":
    main()
