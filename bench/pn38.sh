#!/bin/bash
# Issue 13, thirty-eighth session (BENCHMARKS "Issue 13: thirty-eighth session"): PneumoniaMNIST 28^2, the DDPM's
# U-Net fine-tuned end to end (backbone_ft) against the frozen-feature probes and the CNNs from scratch, all trained
# on THIS machine: two 3000-step DDPMs (bench/pn36_ddpm.sh seeds 5 and 6, retrained here), head seeds 0-5.
#   cnn        ResNet-18 and small CNN (le-pn-baselines-d38; its 2-step DDPM is the random-init U-Net of `ctl`)
#   probe SEED linear_best, linear_ks, linear_topk on DDPM SEED (le-pn-s<SEED>-d38; extracted afresh)
#   ft SEED    backbone_ft on the same run (its probe cells are reused; FT_SCALE = heads.ft_lr_scale, default 1.0:
#              the pilot's choice, which every test-split run passed explicitly)
#   ctl        linear_ks and backbone_ft on the random-init U-Net (le-pn-random-d38)
# BUDGETS (default [5,10,25]); fp32 / >= 200-step harness (heads.precision=fp32), one thread per job.
#   MEDFX_SRC=/work/frozen38 STOP=<epoch s> bash bench/pn38.sh cnn &   (likewise probe 5, ft 5, ctl)
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, wait_ckpt, wait_file
export DATASET=pn
LOG=${LOG:-/work/logs38}/pn38_${1:-usage}${2:-}.log   # LOG names the log directory
B=${BUDGETS:-[5,10,25]}
SIX="heads.precision=fp32 heads.seeds=[0,1,2,3,4,5] heads.ft_lr_scale=${FT_SCALE:-1.0}"
P="'linear_best','linear_ks','linear_topk'"
RANDOM_UNET=bench/runs/le-pn-baselines-d38/ddpm/ckpt-0000002.pt
ckpt() { echo "${DDPM_RUNS:-/work/ddpm_runs}/pn36-s$1/ckpt-0003000.pt"; }
feats() {  # feats SEED METHODS
  local ck; ck=$(ckpt "$1")
  wait_ckpt "$ck"
  le_step "$LOG" "DDPM seed $1, $2 at $B" ddpm BUDGETS=$B EXTRA="$SIX" SUFFIX=-d38 NOLINK=1 DDPM_SEEDS=$1 \
    CKPT_S$1="$ck" METHODS="$2"
}
case "${1:-}" in
  cnn) le_step "$LOG" "ResNet-18 and small CNN at $B" baselines BUDGETS=$B EXTRA="$SIX" SUFFIX=-d38 \
         METHODS="['resnet18','small_cnn']" ;;
  probe) feats "$2" "[$P]" ;;
  ft) feats "$2" "[$P,'backbone_ft']" ;;
  ctl) wait_file "$RANDOM_UNET"
       le_step "$LOG" "random-init U-Net (pn), linear_ks and backbone_ft at $B" control BUDGETS=$B EXTRA="$SIX" \
         SUFFIX=-d38 NOLINK=1 METHODS="['linear_ks','backbone_ft']" CONTROL_CKPT=$RANDOM_UNET ;;
  *) echo "usage: STOP=<epoch s> $0 cnn|probe SEED|ft SEED|ctl" >&2; exit 2 ;;
esac
