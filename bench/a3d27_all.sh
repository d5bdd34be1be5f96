#!/bin/bash
# Issue 13, AdrenalMNIST3D lanes on the 2000-step 3D DDPMs of bench/a3d27_ddpm.sh: each DDPM's four diffusion-feature
# methods and the small CNN re-run beside them, under one of two harnesses (HARNESS):
#   all  (default; twenty-seventh session) budget `all` without early stopping (heads.patience=30); waits for each
#        DDPM's last checkpoint; runs le-a3d-s{0,1}-d27pat, le-a3d-baselines-cpu27small{0,1,2}
#   few  (twenty-eighth session) 5, 10 and 25 labels per class under the ninth session's fp32 / >= 200-step harness
#        (the harness's default patience), the feature methods on hard links to the `all` runs' feature banks, probe
#        grids and KS maps; runs le-a3d-s{0,1}-d27few, le-a3d-baselines-d27fewsmall{0,1,2}
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> [HARNESS=few] bash bench/a3d27_all.sh lane0   # DDPM 0's methods, small CNN seeds 0, 1
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> [HARNESS=few] bash bench/a3d27_all.sh lane1   # DDPM 1's methods, small CNN seed 2
# Run both lanes side by side (one thread each). Cells still running at STOP are killed and not reported.
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, a3d27_wait_ckpt
export DATASET=adrenal3d
case "${HARNESS:-all}" in
  all) export BUDGETS='[all]'; HEADS='heads.precision=fp32 heads.patience=30'; FEAT=(SUFFIX=-d27pat NOLINK=1)
       SMALL=-cpu27small; LOG=${LOG:-/work/logs27}/a3d27_$1.log ;;
  few) export BUDGETS='[5,10,25]'; HEADS='heads.precision=fp32'; FEAT=(SUFFIX=-d27few LINK_FROM=-d27pat)
       SMALL=-d27fewsmall; LOG=${LOG:-/work/logs28}/a3d28_$1.log ;;
  *) echo "HARNESS must be all or few" >&2; exit 2 ;;
esac
ddpm_lane() {  # ddpm_lane SEED: the DDPM's last checkpoint (waited for if not there yet), then the four methods
  local s=$1 ck; ck=$(a3d27_wait_ckpt "$1")
  le_step "$LOG" "DDPM seed $s" ddpm EXTRA="$HEADS" DDPM_SEEDS=$s \
    METHODS="['linear_best','linear_ks','cats','dcube_feats']" "${FEAT[@]}" CKPT_S$s="$ck"
}
small_cnn() {  # small_cnn HEAD_SEED
  le_step "$LOG" "small CNN seed $1" baselines EXTRA="$HEADS heads.seeds=[$1]" SUFFIX=$SMALL$1 METHODS="['small_cnn']"
}
case "${1:-}" in
  lane0) ddpm_lane 0; small_cnn 0; small_cnn 1 ;;
  lane1) ddpm_lane 1; small_cnn 2 ;;
  *) echo "usage: STOP=<epoch s> [HARNESS=all|few] $0 lane0|lane1" >&2; exit 2 ;;
esac
