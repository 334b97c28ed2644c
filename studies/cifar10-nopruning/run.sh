#!/usr/bin/env bash
# CIFAR-10 trained without pruning: 50 per-layer LightConv2d candidates, 10 epochs each on a
# 10,000-image stratified subset, the data for replaying pruners (studies/benchmarks/pruning_replay.py).
# Run as `ranksearch run --dataset cifar10 --data-dir ../shared/datasets --family light --budget 50 --train-subset 10000 --pruner none`
# on the defaults of its day; config.json holds the settings it ran with, so this reruns those on today's code.
# From the repository root, with the datasets beside it; rerun to continue where it stopped.
set -euo pipefail
ranksearch run --config studies/cifar10-nopruning/config.json --data-dir "${RANKSEARCH_DATASETS:-../shared/datasets}" \
  --out "${1:-runs/cifar10-nopruning}"
