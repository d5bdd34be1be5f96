#!/bin/bash
# Issue 13, prepared in the forty-ninth session for the next (BENCHMARKS "Issue 13: forty-ninth session", "Prepared
# for the next session"): a 2000-step AdrenalMNIST3D DDPM pretrained WITH image augmentation
# (train.augment_shift=2; run a3d50aug-s<SEED>, otherwise the a3d27 recipe and the same run.seed as a3d27-s<SEED>),
# then its probes at 5 and 10 labels per class, head seeds 0-5 (le-a3d-s<SEED>-d50aug), for the training-data pilot
# bench/pilot50_summary.py against the unaugmented a3d27-s<SEED>'s le-a3d-s<SEED>-d49 (bench/a3d49.sh probes).
#   MEDFX_SRC=<frozen copy> STOP=<epoch s> bash bench/a3d50.sh ddpm 7 & ... bash bench/a3d50.sh ddpm 8 &
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, run_left, wait_ckpt
usage() { echo "usage: STOP=<epoch s> $0 ddpm SEED" >&2; exit 2; }
[ $# -eq 2 ] && [ "$1" = ddpm ] || usage
LOG=${LOG:-/work/logs50}/a3d50_ddpm$2.log
export DATASET=adrenal3d
mkdir -p "$(dirname "$LOG")"
echo "start DDPM a3d50aug-s$2: $(date -u +%H:%M:%S)" >> "$LOG"
run_left "$LOG" env NAME=a3d50aug TRAIN_EXTRA="train.augment_shift=2" bash bench/a3d27_ddpm.sh "$2"
echo "end DDPM a3d50aug-s$2: $(date -u +%H:%M:%S)" >> "$LOG"
ck=${DDPM_RUNS:-/work/ddpm_runs}/a3d50aug-s$2/ckpt-0002000.pt
wait_ckpt "$ck"
le_step "$LOG" "3D augmented DDPM seed $2, probes, head seeds 0-5" ddpm BUDGETS=[5,10] \
  EXTRA="heads.precision=fp32 heads.seeds=[0,1,2,3,4,5]" SUFFIX=-d50aug NOLINK=1 \
  DDPM_SEEDS="$2" CKPT_S$2="$ck" METHODS="['linear_best','linear_topk']"
