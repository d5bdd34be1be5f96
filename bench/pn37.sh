#!/bin/bash
# Issue 13, thirty-seventh session (BENCHMARKS "Issue 13: thirty-seventh session", "Plan: a 4x larger DDPM"):
# PneumoniaMNIST 28^2 with a wider DDPM, the cpu-28 U-Net at twice the channels (model.unet.channels=[64,128,128]:
# 4.44M parameters against 1.11M), seeds 7 and 8 (no earlier number has seen them), 2000 steps, then the probes in
# the harness of bench/pn36.sh / pn36d.sh against the same CNN runs:
#   lane SEED: the DDPM ($DDPM_RUNS/pn37w-s<SEED>, a checkpoint every 500 steps), then linear_best, linear_ks and
#              linear_topk at head seeds 0-5, 5-50 labels (le-pn-s<SEED>-d37w), then at head seeds 6-11, 5-25 labels
#              (le-pn-s<SEED>-d37ws611, hard links to the first run's features and KS map)
#   ctl:       the same U-Net at (nearly) random initialisation (2 training steps, seed 7: $DDPM_RUNS/pn37w-init),
#              linear_ks at head seeds 0-5 (5-50 labels) and 6-11 (5-25) (le-pn-random-d37w, -d37ws611)
# fp32 / >= 200-step harness (heads.precision=fp32), one thread per job; the two lanes side by side, ctl after lane 7.
#   MEDFX_SRC=/work/frozen37 STOP=<epoch s> bash bench/pn37.sh lane 7 &   (likewise lane 8; then ctl)
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, run_left, wait_file
export DATASET=pn
LOG=${LOG:-/work/logs37}/pn37_${1:-usage}${2:-}.log
WIDE="model.unet.channels=[64,128,128]" STEPS=${STEPS:-2000}   # STEPS: bench/pn37b.sh resumes copies to 3000
LIN="['linear_best','linear_ks','linear_topk']"
pn37_ckpt() { echo "${DDPM_RUNS:-/work/ddpm_runs}/pn37w-s$1/ckpt-$(printf %07d $STEPS).pt"; }
ddpm() {  # ddpm SEED [NAME STEPS]: the wide DDPM (skipped once its last checkpoint exists)
  local name=${2:-pn37w-s$1} steps=${3:-$STEPS}
  [ -e "${DDPM_RUNS:-/work/ddpm_runs}/$name/ckpt-$(printf %07d "$steps").pt" ] && return 0
  mkdir -p "$(dirname "$LOG")"
  echo "start DDPM seed $1: $(date -u +%H:%M:%S)" >> "$LOG"
  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD} run_left "$LOG" nice -n 5 \
    "${PY:-$PWD/.venv/bin/python}" -P -m medfx pretrain preset=cpu-28 "$WIDE" \
    run.out_dir="${DDPM_RUNS:-/work/ddpm_runs}" run.name="$name" run.seed="$1" train.steps="$steps" \
    train.ckpt_every=$(( steps < 500 ? steps : 500 )) train.keep_ckpts=4 train.sample_every=0 run.threads=1
  echo "end DDPM seed $1: $(date -u +%H:%M:%S)" >> "$LOG"
}
probes() {  # probes SEED
  local ck; ck=$(pn37_ckpt "$1")
  le_step "$LOG" "wide DDPM seed $1, seeds 0-5 at [5,10,25,50]" ddpm BUDGETS='[5,10,25,50]' \
    EXTRA="heads.precision=fp32 heads.seeds=[0,1,2,3,4,5]" SUFFIX=-d37w NOLINK=1 DDPM_SEEDS="$1" CKPT_S$1="$ck" \
    METHODS="$LIN"
  le_step "$LOG" "wide DDPM seed $1, seeds 6-11 at [5,10,25]" ddpm BUDGETS='[5,10,25]' \
    EXTRA="heads.precision=fp32 heads.seeds=[6,7,8,9,10,11]" SUFFIX=-d37ws611 LINK_FROM=-d37w DDPM_SEEDS="$1" \
    CKPT_S$1="$ck" METHODS="$LIN"
}
case "${1:-}" in
  ddpm) ddpm "${2:?usage: $0 ddpm SEED}" ;;   # the DDPM alone (bench/pn37b.sh, with DDPM_RUNS and STEPS)
  lane) [ -n "${2:-}" ] || { echo "usage: $0 lane SEED" >&2; exit 2; }
        ddpm "$2"; [ -e "$(pn37_ckpt "$2")" ] && probes "$2" ;;
  ctl) ddpm 7 pn37w-init 2
       ck0="${DDPM_RUNS:-/work/ddpm_runs}/pn37w-init/ckpt-0000002.pt"
       le_step "$LOG" "wide U-Net at random init, linear_ks, seeds 0-5 at [5,10,25,50]" control \
         BUDGETS='[5,10,25,50]' EXTRA="heads.precision=fp32 heads.seeds=[0,1,2,3,4,5]" SUFFIX=-d37w NOLINK=1 \
         METHODS="['linear_ks']" CONTROL_CKPT="$ck0"
       le_step "$LOG" "wide U-Net at random init, linear_ks, seeds 6-11 at [5,10,25]" control \
         BUDGETS='[5,10,25]' EXTRA="heads.precision=fp32 heads.seeds=[6,7,8,9,10,11]" SUFFIX=-d37ws611 \
         LINK_FROM=-d37w METHODS="['linear_ks']" CONTROL_CKPT="$ck0" ;;
  *) echo "usage: STOP=<epoch s> $0 lane SEED | ddpm SEED | ctl" >&2; exit 2 ;;
esac
