#!/bin/bash
# Issue 13, thirty-sixth session (BENCHMARKS "Issue 13: thirty-sixth session"): PneumoniaMNIST 28^2 on two NEW
# 3000-step DDPMs (bench/pn36_ddpm.sh, seeds 5 and 6) against the CNNs trained on this machine in the thirty-fourth
# session (le-pn-baselines-d34: ResNet-18 and small CNN, head seeds 0-5, 5-50 labels), same harness, same subsets.
#   ddpm5 / ddpm6: once the DDPM's 3000-step checkpoint exists, linear_best, linear_ks and linear_topk, head seeds
#            0-5, 5-50 labels (le-pn-s5-d36, le-pn-s6-d36; extracted afresh)
#   ctl:     linear_ks on the random-init U-Net of le-pn-baselines-d34 (le-pn-random-d36ks, hard links to
#            le-pn-random-d34topk's features; that run has linear_best and linear_topk)
# fp32 / >= 200-step harness (heads.precision=fp32), one thread per job.
#   MEDFX_SRC=/work/frozen36 STOP=<epoch s> bash bench/pn36.sh ddpm5 &   (likewise ddpm6, ctl)
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, wait_ckpt
export DATASET=pn
LOG=${LOG:-/work/logs36}/pn36_${1:-usage}.log   # LOG names the log directory
SIX="heads.precision=fp32 heads.seeds=[0,1,2,3,4,5]" B4='[5,10,25,50]' P="['linear_best','linear_ks','linear_topk']"
PNRN=bench/runs/le-pn-baselines-d34/ddpm/ckpt-0000002.pt   # the 2D random U-Net (thirty-fourth session)
pn36_ckpt() { echo "${DDPM_RUNS:-/work/ddpm_runs}/pn36-s$1/ckpt-0003000.pt"; }
ddpm() {  # ddpm SEED
  local ck; ck=$(pn36_ckpt "$1")
  wait_ckpt "$ck"
  le_step "$LOG" "DDPM seed $1, $P at $B4" ddpm BUDGETS=$B4 EXTRA="$SIX" SUFFIX=-d36 NOLINK=1 DDPM_SEEDS=$1 \
    CKPT_S$1="$ck" METHODS="$P"
}
case "${1:-}" in
  ddpm5) ddpm 5 ;;
  ddpm6) ddpm 6 ;;
  ctl) le_step "$LOG" "random-init U-Net (pn), linear_ks at $B4" control BUDGETS=$B4 EXTRA="$SIX" SUFFIX=-d36ks \
         LINK_FROM=-d34topk METHODS="['linear_ks']" CONTROL_CKPT=$PNRN ;;
  *) echo "usage: STOP=<epoch s> $0 ddpm5|ddpm6|ctl" >&2; exit 2 ;;
esac
