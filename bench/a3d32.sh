#!/bin/bash
# Issue 13, thirty-second session: AdrenalMNIST3D 28^3, does diffusion pretraining help the feature heads at 5-50
# labels per class? The thirty-first session's random-init control of the full D-Cube head used one random U-Net
# (3 cells a budget) and flipped sign across budgets. This script adds a second random initialisation (the same
# 2-step throwaway DDPM with run.seed=1: le-a3d-baselines-d32init1, which also re-trains the small CNN cell of head
# seed 0 at 5 labels as a check that run.seed changes nothing else) and runs every feature head on it, and runs the
# four cheaper heads (best-cell probe, KS-keys probe, CATS-like, D-Cube without its image CNN) where they are missing:
# on the first random U-Net at 5-50 and on the two trained DDPMs at 25 and 50 (their 5 and 10 are le-a3d-s*-d30few).
# fp32 / >= 200-step harness (heads.precision=fp32), head seeds 0-2, budgets 5, 10, 25, 50.
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d32.sh laneA   # init-1 checkpoint; every head on it, head
#                                                                     # seeds 0-1; cheap heads on the first random U-Net
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d32.sh laneB   # cheap heads at 25/50 on both DDPMs; every
#                                                                     # head on the init-1 U-Net, head seed 2
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d32.sh laneC|laneD   # declared addition (20:27 UTC): every head
#                      # at 5 and 10 labels with head seeds 3-5 on DDPM 0 and random init 0 (C), DDPM 1 and init 1 (D)
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d32.sh laneE|laneF   # second declared addition (20:58 UTC):
#                      # the same at 25 labels (runs le-a3d-s{0,1}-d32s345b25, le-a3d-random-d32r{0,1}s345b25)
# Run both lanes side by side (one thread each). Cells still running at STOP are killed and not reported.
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, wait_file, a3d27_ckpt
export DATASET=adrenal3d
LOG=${LOG:-/work/logs32}/a3d32_$1.log   # LOG names the log directory
CHEAP="['linear_best','linear_ks','cats','dcube_feats']" ALL="['linear_best','linear_ks','cats','dcube_feats','dcube']"
INIT1=bench/runs/le-a3d-baselines-d32init1/ddpm/ckpt-0000002.pt
RN0=bench/runs/le-a3d-baselines-d31rn0/ddpm/ckpt-0000002.pt   # the first random U-Net (thirty-first session)
B4='[5,10,25,50]'
feat() {  # feat DDPM_SEED SUFFIX BUDGETS METHODS [HEAD_SEEDS]: heads on hard links to le-a3d-s<seed>-d30few's features
  # (HEAD_SEEDS default: the harness's 0-2)
  le_step "$LOG" "DDPM seed $1, $4${5:+, head seeds $5} at $3" ddpm BUDGETS=$3 \
    EXTRA="heads.precision=fp32${5:+ heads.seeds=$5}" SUFFIX=$2 LINK_FROM=-d30few DDPM_SEEDS=$1 \
    CKPT_S$1="$(a3d27_ckpt "$1")" METHODS="$4"
}
ctl() {  # ctl SUFFIX CKPT HEAD_SEEDS METHODS BUDGETS [LINK_FROM]: heads on a random-init U-Net, on hard links to
  # LINK_FROM's extraction (without it: extracted afresh, NOLINK)
  local link=(NOLINK=1); [ -n "${6:-}" ] && link=(LINK_FROM=$6)
  le_step "$LOG" "random-init $2, head seeds $3, $4 at $5" control BUDGETS=$5 \
    EXTRA="heads.precision=fp32 heads.seeds=$3" SUFFIX=$1 "${link[@]}" METHODS="$4" CONTROL_CKPT=$2
}
case "${1:-}" in
  laneA) le_step "$LOG" "init-1 checkpoint + small CNN seed 0 at 5" baselines BUDGETS='[5]' \
           EXTRA="heads.precision=fp32 heads.seeds=[0] run.seed=1" SUFFIX=-d32init1 METHODS="['small_cnn']"
         ctl -d32r1a $INIT1 '[0,1]' "$ALL" $B4
         ctl -d32r0cheap $RN0 '[0,1,2]' "$CHEAP" $B4 -d31ctl01 ;;
  laneB) feat 0 -d32cheap '[25,50]' "$CHEAP"; feat 1 -d32cheap '[25,50]' "$CHEAP"
         wait_file "$INIT1"; sleep 5
         ctl -d32r1b $INIT1 '[2]' "$ALL" $B4 ;;
  # declared addition (20:27 UTC): head seeds 3-5 at 5 and 10 labels
  laneC) feat 0 -d32s345 '[5,10]' "$ALL" '[3,4,5]'; ctl -d32r0s345 $RN0 '[3,4,5]' "$ALL" '[5,10]' -d31ctl01 ;;
  laneD) feat 1 -d32s345 '[5,10]' "$ALL" '[3,4,5]'; ctl -d32r1s345 $INIT1 '[3,4,5]' "$ALL" '[5,10]' -d32r1a ;;
  # second declared addition (20:58 UTC): head seeds 3-5 at 25 labels
  laneE) feat 0 -d32s345b25 '[25]' "$ALL" '[3,4,5]'; ctl -d32r0s345b25 $RN0 '[3,4,5]' "$ALL" '[25]' -d31ctl01 ;;
  laneF) feat 1 -d32s345b25 '[25]' "$ALL" '[3,4,5]'; ctl -d32r1s345b25 $INIT1 '[3,4,5]' "$ALL" '[25]' -d32r1a ;;
  *) echo "usage: STOP=<epoch s> $0 laneA|laneB|laneC|laneD|laneE|laneF" >&2; exit 2 ;;
esac
