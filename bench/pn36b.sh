#!/bin/bash
# Issue 13, thirty-sixth session, declared addition (BENCHMARKS "Issue 13: thirty-sixth session"): the CATS-like head
# and D-Cube without its image CNN on the two new 3000-step PneumoniaMNIST DDPMs, head seeds 0-5, 5-50 labels, once
# bench/pn36.sh's probe run of that DDPM has finished (le-pn-s<S>-d36cats, hard links to le-pn-s<S>-d36's features,
# probe grid and KS map). A separate script so that bench/pn36.sh stays untouched while its lanes run.
# ctl (declared addition 2): the same two heads on the random-init U-Net of le-pn-baselines-d34 (le-pn-random-d36cats,
# hard links to le-pn-random-d34topk's features), for their attribution.
#   MEDFX_SRC=/work/frozen36 STOP=<epoch s> bash bench/pn36b.sh cats5 &   (likewise cats6, ctl)
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, wait_for
export DATASET=pn
LOG=${LOG:-/work/logs36}/pn36b_${1:-usage}.log
SIX="heads.precision=fp32 heads.seeds=[0,1,2,3,4,5]" B4='[5,10,25,50]'
cats() {  # cats SEED
  wait_for le-pn-s$1-d36
  le_step "$LOG" "DDPM seed $1, cats + dcube_feats at $B4" ddpm BUDGETS=$B4 EXTRA="$SIX" SUFFIX=-d36cats \
    LINK_FROM=-d36 DDPM_SEEDS=$1 CKPT_S$1="${DDPM_RUNS:-/work/ddpm_runs}/pn36-s$1/ckpt-0003000.pt" \
    METHODS="['cats','dcube_feats']"
}
case "${1:-}" in
  cats5) cats 5 ;;
  cats6) cats 6 ;;
  ctl) le_step "$LOG" "random-init U-Net (pn), cats + dcube_feats at $B4" control BUDGETS=$B4 EXTRA="$SIX" \
         SUFFIX=-d36cats LINK_FROM=-d34topk METHODS="['cats','dcube_feats']" \
         CONTROL_CKPT=bench/runs/le-pn-baselines-d34/ddpm/ckpt-0000002.pt ;;
  *) echo "usage: STOP=<epoch s> $0 cats5|cats6|ctl" >&2; exit 2 ;;
esac
