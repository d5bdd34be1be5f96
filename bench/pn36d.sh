#!/bin/bash
# Issue 13, thirty-sixth session, third plan (BENCHMARKS "Issue 13: thirty-sixth session"): the PneumoniaMNIST
# comparison repeated on six NEW labelled draws (head seeds 6-11, which no earlier run has used) at 5, 10 and 25
# labels per class, same harness as bench/pn36.sh:
#   cnn:    the ResNet-18 and the small CNN, head seeds 6-11 (le-pn-baselines-d36s611)
#   probes: linear_ks, linear_topk and linear_best on the two 3000-step DDPMs (le-pn-s{5,6}-d36s611, hard links to
#           le-pn-s{5,6}-d36's features and KS map), then on the random U-Net of le-pn-baselines-d34
#           (le-pn-random-d36s611, hard links to le-pn-random-d34topk's)
# fp32 / >= 200-step harness (heads.precision=fp32), one thread per job.
#   MEDFX_SRC=/work/frozen36 STOP=<epoch s> bash bench/pn36d.sh cnn &   (likewise probes)
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step
export DATASET=pn
LOG=${LOG:-/work/logs36}/pn36d_${1:-usage}.log
NEW="heads.precision=fp32 heads.seeds=[6,7,8,9,10,11]" B3='[5,10,25]' LIN="['linear_best','linear_ks','linear_topk']"
case "${1:-}" in
  cnn) le_step "$LOG" "pn CNNs seeds 6-11 at $B3" baselines BUDGETS=$B3 EXTRA="$NEW" SUFFIX=-d36s611 \
         METHODS="['resnet18','small_cnn']" ;;
  probes)
    for s in 5 6; do
      le_step "$LOG" "DDPM seed $s, seeds 6-11 at $B3" ddpm BUDGETS=$B3 EXTRA="$NEW" SUFFIX=-d36s611 LINK_FROM=-d36 \
        DDPM_SEEDS=$s CKPT_S$s="${DDPM_RUNS:-/work/ddpm_runs}/pn36-s$s/ckpt-0003000.pt" METHODS="$LIN"
    done
    le_step "$LOG" "random-init U-Net (pn), seeds 6-11 at $B3" control BUDGETS=$B3 EXTRA="$NEW" SUFFIX=-d36s611 \
      LINK_FROM=-d34topk METHODS="$LIN" CONTROL_CKPT=bench/runs/le-pn-baselines-d34/ddpm/ckpt-0000002.pt ;;
  *) echo "usage: STOP=<epoch s> $0 cnn|probes" >&2; exit 2 ;;
esac
