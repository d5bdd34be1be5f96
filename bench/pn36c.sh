#!/bin/bash
# Issue 13, thirty-sixth session, second plan (BENCHMARKS "Issue 13: thirty-sixth session"): the two new
# PneumoniaMNIST DDPMs of bench/pn36_ddpm.sh continued from 3000 to 4000 steps, and the linear probes along the way.
#   lane S (S = 5 or 6; run both side by side, one thread each):
#     1. copy DDPM_RUNS/pn36-sS to DDPM_RUNS36/pn36-sS (once) and resume the copy to train.steps=4000 through
#        bench/pn36_ddpm.sh itself (constant learning rate: this makes it a 4000-step run), every checkpoint kept;
#     2. linear_best, linear_ks and linear_topk on the step-4000 features, head seeds 0-5, 5-50 labels
#        (le-pn-sS-d36k40, extracted afresh), exactly the harness of bench/pn36.sh;
#     3. the same at steps 500, 1000, 1500, 2000, 2500 (the original run's checkpoints) and 3500 (the copy's):
#        le-pn-sS-d36k5, -d36k10, -d36k15, -d36k20, -d36k25, -d36k35 (the pretraining-compute curve).
# fp32 / >= 200-step harness (heads.precision=fp32), one thread per job.
#   MEDFX_SRC=/work/frozen36 STOP=<epoch s> bash bench/pn36c.sh lane5 & ... lane6 &
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, run_left
export DATASET=pn
LOG=${LOG:-/work/logs36}/pn36c_${1:-usage}.log
D=${DDPM_RUNS:-/work/ddpm_runs} D36=${DDPM_RUNS36:-/work/ddpm_runs36}
SIX="heads.precision=fp32 heads.seeds=[0,1,2,3,4,5]" B4='[5,10,25,50]' LIN="['linear_best','linear_ks','linear_topk']"
ck() { printf '%s/pn36-s%s/ckpt-%07d.pt' "$1" "$2" "$3"; }   # ck DIR SEED STEP
probes() {  # probes SEED CKPT SUFFIX
  le_step "$LOG" "DDPM $1 $(basename "$2"), $LIN at $B4" ddpm BUDGETS=$B4 EXTRA="$SIX" SUFFIX=$3 NOLINK=1 \
    DDPM_SEEDS=$1 CKPT_S$1="$2" METHODS="$LIN"
}
case "${1:-}" in
  lane5|lane6)
    s=${1#lane}
    mkdir -p "$D36" "$(dirname "$LOG")"
    [ -e "$D36/pn36-s$s" ] || cp -a "$D/pn36-s$s" "$D36/pn36-s$s"
    echo "start DDPM $s 3000 -> 4000: $(date -u +%H:%M:%S)" >> "$LOG"
    run_left "$LOG" env DDPM_RUNS="$D36" STEPS=4000 KEEP=10 bash bench/pn36_ddpm.sh "$s"
    echo "end DDPM $s: $(date -u +%H:%M:%S)" >> "$LOG"
    probes "$s" "$(ck "$D36" "$s" 4000)" -d36k40
    for st in 500 1000 1500 2000 2500; do probes "$s" "$(ck "$D" "$s" $st)" "-d36k$((st / 100))"; done
    probes "$s" "$(ck "$D36" "$s" 3500)" -d36k35 ;;
  *) echo "usage: STOP=<epoch s> $0 lane5|lane6" >&2; exit 2 ;;
esac
