#!/usr/bin/env bash
# A network we did not define: torchvision's ResNet-18 on CIFAR-10 (3,000 training images, a
# CPU-sized subset). First train it unmodified for 6 epochs and keep its weights (not committed:
# 45 MB); then search every layer's family and rank from those weights: 10 candidates, each
# fine-tuned 2 epochs from the decomposed weights (sized to finish in minutes on a 2-core CPU
# shared with other work: a demonstration of the path, not a good ResNet).
# From the repository root, with the datasets beside it; rerun to continue where it stopped.
set -euo pipefail
DATA="${RANKSEARCH_DATASETS:-../shared/datasets}"
OUT="${1:-runs/resnet18-cifar10}"
mkdir -p "$OUT"
[ -f "$OUT/resnet18.pt" ] || ranksearch train --dataset cifar10 --data-dir "$DATA" --train-subset 3000 --epochs 6 \
  --model torchvision.models:resnet18 --save "$OUT/resnet18.pt" --json > "$OUT/resnet18-train.json"
ranksearch run --dataset cifar10 --data-dir "$DATA" --train-subset 3000 --epochs 2 --budget 10 \
  --model torchvision.models:resnet18 --weights "$OUT/resnet18.pt" --family all --out "$OUT"
