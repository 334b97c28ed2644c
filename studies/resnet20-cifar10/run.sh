#!/usr/bin/env bash
# The study a user with a trained network wants: their own CIFAR-10 ResNet-20 (resnet20.py, written
# as a user writes a model file), trained once here with parent.json's recipe (50 epochs of SGD on
# the 45,000 training images, one-cycle to 0.1, batch 128; the weights are not committed, this
# rebuilds them), then searched from those weights: every candidate inherits them, factorised
# layer by layer, and fine-tunes. From the repository root, with the datasets beside it; rerun to
# continue where it stopped.
set -euo pipefail
DATA="${RANKSEARCH_DATASETS:-../shared/datasets}"
OUT="${1:-runs/resnet20-cifar10}"
MODEL=studies/resnet20-cifar10/resnet20.py:resnet20
mkdir -p "$OUT"
[ -f "$OUT/resnet20.pt" ] || /usr/bin/time -v ranksearch train --config studies/resnet20-cifar10/parent.json \
  --data-dir "$DATA" --save "$OUT/resnet20.pt" --json > "$OUT/resnet20-train.json" 2> "$OUT/resnet20-train.log" \
  || { grep -m1 -e 'error:' -e 'cannot run' "$OUT/resnet20-train.log" >&2; exit 2; }
/usr/bin/time -v ranksearch run --dataset cifar10 --data-dir "$DATA" --model "$MODEL" --weights "$OUT/resnet20.pt" \
  --budget 20 --out "$OUT"
