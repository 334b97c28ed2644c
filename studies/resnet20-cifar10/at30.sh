#!/usr/bin/env bash
# ALDS's recipe in this tool's terms, at the 30 %: one candidate allocated from the trained
# ResNet-20's weights at 30 % of its parameters (--warm-shares 0.3, --budget 1), fine-tuned as long
# as the parent trained (--finetune-epochs 50), beside the parent fine-tuned just as long (the conv
# baseline). The parent is run.sh's (built here the same way when missing). From the repository root.
set -euo pipefail
DATA="${RANKSEARCH_DATASETS:-../shared/datasets}"
PARENT_DIR="${PARENT_DIR:-runs/resnet20-cifar10}"
OUT="${1:-runs/resnet20-at30}"
MODEL=studies/resnet20-cifar10/resnet20.py:resnet20
mkdir -p "$PARENT_DIR" "$OUT"
[ -f "$PARENT_DIR/resnet20.pt" ] || /usr/bin/time -v ranksearch train --config studies/resnet20-cifar10/parent.json \
  --data-dir "$DATA" --save "$PARENT_DIR/resnet20.pt" --json > "$PARENT_DIR/resnet20-train.json" 2> "$PARENT_DIR/resnet20-train.log"
/usr/bin/time -v ranksearch run --dataset cifar10 --data-dir "$DATA" --model "$MODEL" --weights "$PARENT_DIR/resnet20.pt" \
  --warm-shares 0.3 --budget 1 --finetune-epochs 50 --baselines conv --confirm-seeds 0 --out "$OUT"
