#!/usr/bin/env bash
# Candidates inherited from the parent, trained without pruning, validated at 0, 1/9 and 1/3 of the
# fine-tune's first epoch and after every epoch: the data for the rung signals
# (studies/benchmarks/rung_signals.py; studies/benchmarks/RESULTS.md, "Rung signals").
# Run as `ranksearch run --dataset fashion-mnist --data-dir ../shared/datasets --family all --budget 50 --epochs 5 --train-subset 10000 --pruner none:checks=0+0.1111+0.3333`
# on the defaults of its day; config.json holds the settings it ran with, so this reruns those on today's code.
# From the repository root, with the datasets beside it; rerun to continue where it stopped.
set -euo pipefail
ranksearch run --config studies/fashion-mnist-all-parent-nopruning/config.json --data-dir "${RANKSEARCH_DATASETS:-../shared/datasets}" \
  --out "${1:-runs/fashion-mnist-all-parent-nopruning}"
