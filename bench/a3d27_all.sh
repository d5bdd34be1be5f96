#!/bin/bash
# Issue 13, twenty-seventh session: AdrenalMNIST3D at budget `all` without early stopping (heads.patience=30) on the
# two fresh 2000-step 3D DDPMs of bench/a3d27_ddpm.sh, and the small CNN re-run under the same rule.
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d27_all.sh lane0   # waits for a3d27-s0, its diffusion-feature methods, small CNN seeds 0, 1
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d27_all.sh lane1   # waits for a3d27-s1, its diffusion-feature methods, small CNN seed 2
# Run both lanes side by side (one thread each). Cells still running at STOP are killed and not reported.
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # wait_file, run_left
export DATASET=adrenal3d BUDGETS='[all]'
DDPM_RUNS=${DDPM_RUNS:-/work/ddpm_runs}
LOG=${LOG:-/work/logs27}/a3d27_$1.log
ddpm_lane() {  # ddpm_lane SEED: wait for the DDPM's last checkpoint, then the four diffusion-feature methods
  local s=$1 ck=$DDPM_RUNS/a3d27-s$1/ckpt-0002000.pt
  wait_file "$ck"
  sleep 30  # the checkpoint is written atomically; let the trainer finish its last log lines
  echo "start DDPM seed $s: $(date -u +%H:%M:%S)" >> "$LOG"
  EXTRA='heads.precision=fp32 heads.patience=30' SUFFIX=-d27pat NOLINK=1 DDPM_SEEDS=$s \
    METHODS="['linear_best','linear_ks','cats','dcube_feats']" \
    run_left "$LOG" env CKPT_S$s="$ck" bash bench/label_efficiency.sh ddpm
  echo "end DDPM seed $s: $(date -u +%H:%M:%S)" >> "$LOG"
}
small_cnn() {  # small_cnn HEAD_SEED
  echo "start small CNN seed $1: $(date -u +%H:%M:%S)" >> "$LOG"
  EXTRA="heads.precision=fp32 heads.patience=30 heads.seeds=[$1]" SUFFIX=-cpu27small$1 METHODS="['small_cnn']" \
    run_left "$LOG" bash bench/label_efficiency.sh baselines
  echo "end small CNN seed $1: $(date -u +%H:%M:%S)" >> "$LOG"
}
case "${1:-}" in
  lane0) ddpm_lane 0; small_cnn 0; small_cnn 1 ;;
  lane1) ddpm_lane 1; small_cnn 2 ;;
  *) echo "usage: STOP=<epoch s> $0 lane0|lane1" >&2; exit 2 ;;
esac
