#!/usr/bin/env bash
# AdrenalMNIST3D with epoch selection by validation balanced accuracy instead of AUC (2026-11-22): does it avoid the
# argmax collapse seen with AUC selection? D-Cube as in pass 2 (bench/heads_longer.sh) on the same cached features;
# ResNet-18 3D as in bench/baseline_only.py. Same splits, subsample and seeds.
#   bash bench/select_bacc.sh dcube|resnet18
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
OUT=bench/runs; src=$OUT/heads-adrenal3d; dst=$OUT/heads-adrenal3d-bacc
case $1 in
  dcube)
    link_cached_run "$src" "$dst"
    medfx train-head "$src/config.yaml" run.name=heads-adrenal3d-bacc "heads.methods=[dcube]" heads.epochs=20 \
      heads.patience=5 heads.select_metric=bacc ;;
  resnet18)
    python bench/baseline_only.py "$src" --method resnet18 --select-metric bacc \
      --out bench/results/resnet18_adrenal3d_bacc.json ;;
esac
