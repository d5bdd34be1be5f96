#!/usr/bin/env bash
# Issue 4 benchmark: heads and baselines (3 seeds) on the frozen DDPMs of bench/run_probe_grids.sh.
# CPU budget: the classifiers see a seeded stratified subsample of the training split (data.max_per_split),
# the same for every method; validation and test splits are complete.
#   bash bench/run_heads.sh [pneumonia28|brain64|adrenal3d ...]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/runs
COMMON=(run.out_dir=$OUT heads.seeds=[0,1,2] heads.patience=4 heads.batch_size=128 heads.dcube_widen=0.5)
for j in "${@:-pneumonia28 brain64 adrenal3d}"; do
  case $j in
    pneumonia28) medfx train-head preset=cpu-28 run.name=heads-pneumonia28 --ckpt $OUT/pneumonia28/last.pt \
                   "${COMMON[@]}" "features.timesteps=[0,10,50,100,200,400]" data.max_per_split=2000 \
                   heads.epochs=10 heads.baseline_epochs=8 ;;
    brain64)     medfx train-head preset=cpu-64 run.name=heads-brain64 --ckpt $OUT/brain64/last.pt \
                   data.path=bench/data/brain4_dedup.csv "${COMMON[@]}" "features.timesteps=[0,10,50,200]" \
                   data.max_per_split=1200 heads.epochs=8 heads.baseline_epochs=6 ;;
    adrenal3d)   medfx train-head preset=cpu-3d-28 run.name=heads-adrenal3d --ckpt $OUT/adrenal3d/last.pt \
                   "${COMMON[@]}" "features.timesteps=[0,10,50,200]" data.max_per_split=600 heads.epochs=8 \
                   heads.baseline_epochs=5 heads.batch_size=32 ;;
  esac
done
