#!/usr/bin/env bash
# CIFAR-10 trained without pruning: 50 per-layer LightConv2d candidates, 10 epochs each on a
# 10,000-image stratified subset, the data for replaying pruners (studies/benchmarks/pruning_replay.py).
set -euo pipefail
ranksearch run --dataset cifar10 --data-dir "${RANKSEARCH_DATASETS:-../shared/datasets}" \
  --family light --budget 50 --train-subset 10000 --pruner none --out "${1:-runs/cifar10-nopruning}"
