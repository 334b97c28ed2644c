#!/usr/bin/env bash
# Several ranksearch processes training on one machine (a run and its workers): images/s of each.
# Trains the same candidate (Fashion-MNIST, Light k=3, 2 epochs, 5,000 images) alone, then as two
# processes at once: with ranksearch's automatic sharing of the cores (ranksearch/cores.py), with
# every process forced to all cores (OMP_NUM_THREADS=<cores>: what PyTorch does by default), and
# with one thread each. Figures: RESULTS.md beside this file.
# Usage: studies/benchmarks/workers_one_machine.sh [DATA_DIR]   (default ../shared/datasets)
set -euo pipefail
data=${1:-${RANKSEARCH_DATASETS:-../shared/datasets}}
cores=$(python -c 'import torch; print(torch.get_num_threads())')
train=(ranksearch train --dataset fashion-mnist --data-dir "$data" --family light --rank 3
       --epochs 2 --train-subset 5000 --device cpu --json)
rate() { tail -1 | python -c "import json, sys; print(round(json.load(sys.stdin)['images_per_second']))"; }

pair() {  # two trainings at once, with the given environment assignments (or none)
  local tmp; tmp=$(mktemp -d)
  env "$@" "${train[@]}" >"$tmp/1" 2>/dev/null &
  env "$@" "${train[@]}" >"$tmp/2" 2>/dev/null &
  wait
  echo "$(rate <"$tmp/1") and $(rate <"$tmp/2") images/s"
  rm -r "$tmp"
}

"${train[@]}" >/dev/null 2>&1  # fill the dataset cache first
echo "torch threads by default: $cores"
echo "one process alone:                                $("${train[@]}" 2>/dev/null | rate) images/s"
echo "two at once, shared automatically:                $(pair)"
echo "two at once, each on all cores (OMP_NUM_THREADS=$cores): $(pair OMP_NUM_THREADS="$cores")"
echo "two at once, one thread each (OMP_NUM_THREADS=1):  $(pair OMP_NUM_THREADS=1)"
