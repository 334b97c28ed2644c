#!/usr/bin/env bash
# Candidates inherited from the parent, trained without pruning, validated at 0, 1/9 and 1/3 of the
# fine-tune's first epoch and after every epoch: the data for the rung signals
# (studies/benchmarks/rung_signals.py; studies/benchmarks/RESULTS.md, "Rung signals").
set -euo pipefail
ranksearch run --dataset fashion-mnist --data-dir "${RANKSEARCH_DATASETS:-../shared/datasets}" --family light --budget 50 \
  --epochs 5 --train-subset 10000 --pruner none:checks=0+0.1111+0.3333 --confirm-seeds 0 --out "${1:-runs/fashion-mnist-light-parent-nopruning}"
