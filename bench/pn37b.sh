#!/bin/bash
# Issue 13, thirty-seventh session, declared addition (BENCHMARKS "Issue 13: thirty-seventh session"): the two wide
# PneumoniaMNIST DDPMs of bench/pn37.sh continued from 2000 to 3000 steps (the small DDPMs' length), then the probes.
#   lane SEED (7 or 8; both side by side, one thread each):
#     1. copy DDPM_RUNS/pn37w-sSEED to DDPM_RUNS37/pn37w-sSEED (once) and resume the copy to train.steps=3000 through
#        `bench/pn37.sh ddpm SEED` itself (constant learning rate: this makes it a 3000-step run);
#     2. linear_best, linear_ks and linear_topk on the step-3000 features, head seeds 0-5 at 5-50 labels
#        (le-pn-sSEED-d37w30, extracted afresh) and 6-11 at 5-25 (le-pn-sSEED-d37w30s611), bench/pn37.sh's harness.
#   MEDFX_SRC=/work/frozen37 STOP=<epoch s> bash bench/pn37b.sh lane 7 &   (likewise lane 8)
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, run_left
export DATASET=pn
LOGDIR=${LOG:-/work/logs37}   # LOG names the log directory
LOG=$LOGDIR/pn37b_${1:-usage}${2:-}.log
D=${DDPM_RUNS:-/work/ddpm_runs} D37=${DDPM_RUNS37:-/work/ddpm_runs37}
LIN="['linear_best','linear_ks','linear_topk']"
case "${1:-}" in
  lane)
    s=${2:?usage: $0 lane SEED}
    mkdir -p "$D37" "$(dirname "$LOG")"
    [ -e "$D37/pn37w-s$s" ] || cp -a "$D/pn37w-s$s" "$D37/pn37w-s$s"
    ck="$D37/pn37w-s$s/ckpt-0003000.pt"
    LOG="$LOGDIR" DDPM_RUNS="$D37" STEPS=3000 bash bench/pn37.sh ddpm "$s"   # its own call, skipped once $ck exists
    le_step "$LOG" "wide DDPM seed $s at 3000 steps, seeds 0-5 at [5,10,25,50]" ddpm BUDGETS='[5,10,25,50]' \
      EXTRA="heads.precision=fp32 heads.seeds=[0,1,2,3,4,5]" SUFFIX=-d37w30 NOLINK=1 DDPM_SEEDS="$s" CKPT_S$s="$ck" \
      METHODS="$LIN"
    le_step "$LOG" "wide DDPM seed $s at 3000 steps, seeds 6-11 at [5,10,25]" ddpm BUDGETS='[5,10,25]' \
      EXTRA="heads.precision=fp32 heads.seeds=[6,7,8,9,10,11]" SUFFIX=-d37w30s611 LINK_FROM=-d37w30 DDPM_SEEDS="$s" \
      CKPT_S$s="$ck" METHODS="$LIN" ;;
  *) echo "usage: STOP=<epoch s> $0 lane SEED" >&2; exit 2 ;;
esac
