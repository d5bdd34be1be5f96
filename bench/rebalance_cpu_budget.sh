#!/usr/bin/env bash
# Issue 5 rebalancing benchmark as run on 2026-11-22 (2-core CPU): PneumoniaMNIST (normal is the minority class,
# 1214 vs 3494 in the full training split) with a 1500-image stratified training subsample; the class-conditional
# DDPM with contrastive loss (bench/run_generation.sh cond) synthesizes normal images up to balance; small CNN and
# ResNet-18 are trained on real and on real + synthetic data with the same seeds. (A D-Cube head with its cycle loss
# through this conditional model, heads.methods=['dcube',...], did not fit the day's CPU budget: ~78 s per epoch.)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/runs
medfx train-head preset=cpu-28 run.out_dir=$OUT run.name=rebalance-pn --ckpt $OUT/cond-pn-con/last.pt \
  data.max_per_split=1500 "features.timesteps=[0,10,50,200]" "heads.methods=['small_cnn','resnet18']" \
  heads.seeds=[0,1,2] heads.epochs=6 heads.baseline_epochs=6 heads.patience=3 heads.dcube_widen=0.5 \
  heads.synthetic_balance=1.0 "heads.synthetic_methods=['small_cnn','resnet18']"
