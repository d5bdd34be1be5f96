#!/bin/bash
# Issue 13, thirty-sixth session, fourth plan (BENCHMARKS "Issue 13: thirty-sixth session"): AdrenalMNIST3D 28^3 at
# 5 and 10 labels per class on six NEW labelled draws (head seeds 6-11), the thirty-fourth session's comparison
# (bench/a3d34.sh) repeated with the same DDPMs (a3d27-s{0,1}, 2000 steps), harness and methods:
#   laneA: the ResNet-18 3D, head seeds 6, 7, 8 (le-a3d-baselines-d36rn<s>), then the small CNN, seeds 6-11
#          (le-a3d-baselines-d36small)
#   laneB: linear_best, linear_ks, linear_topk on both DDPMs (le-a3d-s{0,1}-d36s611, hard links to -d30few's
#          features and KS map) and linear_best + linear_topk on random inits 0 and 1 (le-a3d-random-d36r{0,1}s611),
#          then the ResNet-18 3D, head seeds 9, 10, 11
# fp32 / >= 200-step harness (heads.precision=fp32), one thread per job. Cells still running at STOP are killed and
# not reported.
#   MEDFX_SRC=/work/frozen36 STOP=<epoch s> bash bench/a3d36.sh laneA &   (likewise laneB)
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, le_cnn, a3d27_ckpt
export DATASET=adrenal3d
LOG=${LOG:-/work/logs36}/a3d36_${1:-usage}.log
B='[5,10]' NEW="heads.precision=fp32 heads.seeds=[6,7,8,9,10,11]"
RN0=bench/runs/le-a3d-baselines-d31rn0/ddpm/ckpt-0000002.pt     # random init 0 (thirty-first session)
INIT1=bench/runs/le-a3d-baselines-d32init1/ddpm/ckpt-0000002.pt  # random init 1 (thirty-second session)
case "${1:-}" in
  laneA)
    for s in 6 7 8; do le_cnn "$LOG" $s "['resnet18']" -d36rn$s "$B"; done
    le_step "$LOG" "small_cnn seeds 6-11 at $B" baselines BUDGETS=$B EXTRA="$NEW" SUFFIX=-d36small \
      METHODS="['small_cnn']" ;;
  laneB)
    for d in 0 1; do
      le_step "$LOG" "DDPM seed $d, seeds 6-11 at $B" ddpm BUDGETS=$B EXTRA="$NEW" SUFFIX=-d36s611 LINK_FROM=-d30few \
        DDPM_SEEDS=$d CKPT_S$d="$(a3d27_ckpt $d)" METHODS="['linear_best','linear_ks','linear_topk']"
    done
    le_step "$LOG" "random-init 0, seeds 6-11 at $B" control BUDGETS=$B EXTRA="$NEW" SUFFIX=-d36r0s611 \
      LINK_FROM=-d31ctl01 METHODS="['linear_best','linear_topk']" CONTROL_CKPT=$RN0
    le_step "$LOG" "random-init 1, seeds 6-11 at $B" control BUDGETS=$B EXTRA="$NEW" SUFFIX=-d36r1s611 \
      LINK_FROM=-d32r1a METHODS="['linear_best','linear_topk']" CONTROL_CKPT=$INIT1
    for s in 9 10 11; do le_cnn "$LOG" $s "['resnet18']" -d36rn$s "$B"; done ;;
  *) echo "usage: STOP=<epoch s> $0 laneA|laneB" >&2; exit 2 ;;
esac
