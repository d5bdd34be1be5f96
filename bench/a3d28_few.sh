#!/bin/bash
# Issue 13, twenty-eighth session: AdrenalMNIST3D at 5, 10 and 25 labels per class on the twenty-seventh session's two
# retrained 2000-step 3D DDPMs (a3d27-s{0,1}), under the ninth session's fp32 / >= 200-step harness (heads.precision=fp32,
# the harness's default patience), with the small CNN re-run in the same session as the CNN reference. The feature
# methods start from hard links to the le-a3d-s{0,1}-d27pat feature banks, probe grids and KS maps.
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d28_few.sh lane0   # DDPM 0's feature methods, small CNN seeds 0, 1
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d28_few.sh lane1   # DDPM 1's feature methods, small CNN seed 2
# Run both lanes side by side (one thread each). Cells still running at STOP are killed and not reported.
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # run_left
export DATASET=adrenal3d BUDGETS='[5,10,25]'
DDPM_RUNS=${DDPM_RUNS:-/work/ddpm_runs}
LOG=${LOG:-/work/logs28}/a3d28_$1.log
feats() {  # feats DDPM_SEED
  echo "start DDPM seed $1: $(date -u +%H:%M:%S)" >> "$LOG"
  EXTRA='heads.precision=fp32' LINK_FROM=-d27pat SUFFIX=-d27few DDPM_SEEDS=$1 \
    METHODS="['linear_best','linear_ks','cats','dcube_feats']" \
    run_left "$LOG" env CKPT_S$1="$DDPM_RUNS/a3d27-s$1/ckpt-0002000.pt" bash bench/label_efficiency.sh ddpm
  echo "end DDPM seed $1: $(date -u +%H:%M:%S)" >> "$LOG"
}
small_cnn() {  # small_cnn HEAD_SEED
  echo "start small CNN seed $1: $(date -u +%H:%M:%S)" >> "$LOG"
  EXTRA="heads.precision=fp32 heads.seeds=[$1]" SUFFIX=-d27fewsmall$1 METHODS="['small_cnn']" \
    run_left "$LOG" bash bench/label_efficiency.sh baselines
  echo "end small CNN seed $1: $(date -u +%H:%M:%S)" >> "$LOG"
}
case "${1:-}" in
  lane0) feats 0; small_cnn 0; small_cnn 1 ;;
  lane1) feats 1; small_cnn 2 ;;
  *) echo "usage: STOP=<epoch s> $0 lane0|lane1" >&2; exit 2 ;;
esac
