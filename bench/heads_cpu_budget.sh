#!/usr/bin/env bash
# Issue 4 benchmark as run on 2026-11-22 (2-core CPU): heads and baselines over 3 seeds on the frozen DDPMs of
# bench/run_probe_grids.sh, with the CPU budgets of that day: the classifiers see a seeded stratified subsample of
# the training split (data.max_per_split, the same for every method); validation and test are complete.
#   bash bench/heads_cpu_budget.sh [brain64|adrenal3d ...]     (pneumonia28: bench/run_heads.sh pneumonia28)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/runs
COMMON=(run.out_dir=$OUT heads.seeds=[0,1,2] heads.patience=3 heads.batch_size=64)
for j in "$@"; do
  case $j in
    brain64)   medfx train-head preset=cpu-64 run.name=heads-brain64 --ckpt $OUT/brain64/last.pt \
                 data.path=bench/data/brain4_dedup.csv "${COMMON[@]}" "features.timesteps=[0,10,50,200]" \
                 data.max_per_split=1000 heads.epochs=8 heads.baseline_epochs=5 heads.dcube_widen=0.25 ;;
    adrenal3d) medfx train-head preset=cpu-3d-28 run.name=heads-adrenal3d --ckpt $OUT/adrenal3d/last.pt \
                 "${COMMON[@]}" "features.timesteps=[0,10,50,200]" data.max_per_split=400 heads.epochs=6 \
                 heads.baseline_epochs=4 heads.batch_size=32 heads.dcube_widen=0.25 ;;
  esac
done
