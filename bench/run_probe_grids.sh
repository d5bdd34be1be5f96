#!/usr/bin/env bash
# Issue 3 benchmark: a DDPM per dataset (pretrained on that dataset's training split only), then the probe grid
# and the Gaussianity map. Results land in bench/runs/<name>/{probe,gaussianity}; see BENCHMARKS.md.
#   bash bench/run_probe_grids.sh [pneumonia28|adrenal3d|brain64 ...]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/runs
T="features.timesteps=[0,10,50,100,200,400]"
run() {  # name, pretrain overrides...
  local name=$1; shift
  medfx pretrain run.out_dir=$OUT run.name=$name "$@"
  if [ "$name" = pneumonia28 ]; then  # brain64 / adrenal3d: probe grid and KS map come from bench/heads_cpu_budget.sh
    medfx probe --ckpt $OUT/$name/last.pt $T
    medfx gaussianity --ckpt $OUT/$name/last.pt $T
  fi
}
for job in "${@:-pneumonia28 adrenal3d brain64}"; do
  for j in $job; do
    case $j in
      pneumonia28) run pneumonia28 preset=cpu-28 train.steps=1500 train.sample_every=500 ;;
      adrenal3d)   T="features.timesteps=[0,10,50,200]"
                   run adrenal3d preset=cpu-3d-28 train.steps=250 train.batch_size=8 train.sample_every=125 ;;
      brain64)     [ -f bench/data/brain4_dedup.csv ] || \
                     medfx data check ../shared/data/brain_tumor_mri_4class --out bench/data/brain4_check \
                       --dedup bench/data/brain4_dedup.csv
                   T="features.timesteps=[0,10,50,200]"
                   run brain64 preset=cpu-64 data.path=bench/data/brain4_dedup.csv train.steps=400 \
                     train.batch_size=16 train.sample_every=200 ;;
    esac
  done
done
