"""The paper's uniform Light models in the committed studies that inherited from a parent and trained
every candidate to the end: their size, validation accuracy, whether they are on the front and what
dominates them, and their share of the candidates' training seconds (RESULTS.md, "The paper's
models under a parent start").

    python studies/benchmarks/paper_models_parent.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lightlayers import build_model, reference_spec, trainable_params

STUDIES = Path(__file__).resolve().parents[1]
RUNS = ("cifar10-all-parent-nopruning", "fashion-mnist-all-parent-nopruning", "fashion-mnist-light-parent-nopruning")


def main() -> None:
    for name in RUNS:
        dataset = json.loads((STUDIES / name / "config.json").read_text())["data"]["dataset"]
        trials = pd.read_csv(STUDIES / name / "trials.csv")
        ranks = {trainable_params(build_model(reference_spec(dataset, "light", k))): k for k in range(1, 6)}
        cand = trials[trials.role == "candidate"]
        paper = cand[cand.trainable_params.isin(ranks)]
        share = paper.seconds.sum() / cand.seconds.sum()
        print(f"{name}: {len(paper)} paper models of {len(cand)} candidates, "
              f"{paper.seconds.sum():,.0f} of {cand.seconds.sum():,.0f} training seconds ({share:.0%})")
        for _, r in paper.sort_values("trainable_params").iterrows():
            better = (trials.trainable_params <= r.trainable_params) & (trials.val_accuracy > r.val_accuracy)
            by = trials[better & (trials.role != "parent")]
            print(f"  k={ranks[r.trainable_params]}  trial {r.number:>2}  {r.trainable_params:>6,} params  val {r.val_accuracy:.4f}"
                  f"  on front {bool(r.on_front)}  dominated by {', '.join(map(str, by.number)) or '-'}"
                  f" ({', '.join(by[by.role == 'baseline'].family) or 'no baseline'})")


if __name__ == "__main__":
    main()
