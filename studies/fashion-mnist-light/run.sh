#!/usr/bin/env bash
# Reference study: per-layer LightConv2d ranks on Fashion-MNIST, 5 epochs per candidate on a
# 10,000-image stratified subset, 50 finished candidates, Pareto-aware pruning on.
# From the repository root, with the datasets beside it; rerun to continue where it stopped.
set -euo pipefail
ranksearch run --dataset fashion-mnist --data-dir "${RANKSEARCH_DATASETS:-../shared/datasets}" \
  --family light --budget 50 --epochs 5 --train-subset 10000 --out "${1:-runs/fashion-mnist-light}"
