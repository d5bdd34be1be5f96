#!/usr/bin/env bash
# Issue 4, second pass (2026-11-22): the feature heads of bench/heads_cpu_budget.sh hit their epoch cap (6-8 epochs,
# best epoch = last), so train CATS-like and D-Cube again with up to 20 epochs and patience 5, on the same frozen
# DDPMs, cached features, splits, training subsample and seeds. The run directory heads-<ds>-e20 starts from hard
# links to the feature banks, probe grid and Gaussianity map of heads-<ds> (same settings, so they are reused).
#   bash bench/heads_longer.sh brain64|adrenal3d|pneumonia28
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
OUT=bench/runs
ds=$1; src=$OUT/heads-$ds; dst=$OUT/heads-$ds-e20
link_cached_run "$src" "$dst"
# everything else exactly as in the first pass: its resolved config.yaml (checkpoint, data, subsample, seeds)
medfx train-head "$src/config.yaml" run.name=heads-$ds-e20 "heads.methods=[linear_best,cats,dcube]" \
  heads.epochs=20 heads.patience=5
