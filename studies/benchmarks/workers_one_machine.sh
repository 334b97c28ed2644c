#!/usr/bin/env bash
# Why `--jobs` gives each training process its share of the cores: images/s of one candidate
# (CIFAR-10, Conv2D and Light k=3, 1 epoch on 10,000 images, the fast recipe with its bf16 on
# this CPU) trained alone with every core, then as two processes at once each forced to every
# core (what PyTorch does by default), then as two processes with one thread each (what
# `--jobs 2` does on 2 cores). Figures: RESULTS.md beside this file.
# Usage: studies/benchmarks/workers_one_machine.sh [DATA_DIR]   (default ../shared/datasets)
set -euo pipefail
data=${1:-${RANKSEARCH_DATASETS:-../shared/datasets}}
cores=$(python -c 'import os; print(len(os.sched_getaffinity(0)))')
rate() { tail -1 | python -c "import json, sys; print(round(json.load(sys.stdin)['images_per_second']))"; }

for model in "--family conv" "--family light --rank 3"; do
  train=(ranksearch train --dataset cifar10 --data-dir "$data" $model --epochs 1 --train-subset 10000 --device cpu --json)
  "${train[@]}" >/dev/null 2>&1  # fill the dataset cache first
  pair() {  # two trainings at once with the given environment
    local tmp; tmp=$(mktemp -d)
    env "$@" "${train[@]}" >"$tmp/1" 2>/dev/null &
    env "$@" "${train[@]}" >"$tmp/2" 2>/dev/null &
    wait
    echo "$(rate <"$tmp/1") + $(rate <"$tmp/2") images/s"
    rm -r "$tmp"
  }
  echo "$model"
  echo "  one process, $cores threads:                     $("${train[@]}" 2>/dev/null | rate) images/s"
  echo "  two at once, each $cores threads:                $(pair OMP_NUM_THREADS="$cores")"
  echo "  two at once, one thread each (--jobs 2):     $(pair OMP_NUM_THREADS=1)"
done
