#!/usr/bin/env bash
# The headline search: CIFAR-10, 50 candidates, every setting at its default (space all with warm
# starts, 10 epochs on the 45,000 training images, moasha pruning, --jobs auto, bf16 where the
# CPU has it). Timed with /usr/bin/time -v; from the repository root, datasets beside it.
set -euo pipefail
/usr/bin/time -v ranksearch run --dataset cifar10 --data-dir "${RANKSEARCH_DATASETS:-../shared/datasets}" \
  --budget 50 --out "${1:-runs/cifar10-all}"
