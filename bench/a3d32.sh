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
ctl() {  # ctl SUFFIX CKPT HEAD_SEEDS METHODS [LINK_FROM]: heads on a random-init U-Net, budgets 5-50
  local link=(NOLINK=1); [ -n "${5:-}" ] && link=(LINK_FROM=$5)
  le_step "$LOG" "random-init $2, head seeds $3, $4" control BUDGETS='[5,10,25,50]' \
    EXTRA="heads.precision=fp32 heads.seeds=$3" SUFFIX=$1 "${link[@]}" METHODS="$4" CONTROL_CKPT=$2
}
cheap() {  # cheap DDPM_SEED: the four cheaper heads at 25 and 50 labels on hard links to le-a3d-s<seed>-d30few
  le_step "$LOG" "DDPM seed $1, cheap heads at 25/50" ddpm BUDGETS='[25,50]' EXTRA='heads.precision=fp32' \
    SUFFIX=-d32cheap LINK_FROM=-d30few DDPM_SEEDS=$1 CKPT_S$1="$(a3d27_ckpt "$1")" METHODS="$CHEAP"
}
s345() {  # s345 DDPM_SEED [BUDGETS SUFFIX]: every head at 5 and 10 labels (or BUDGETS), head seeds 3-5, on hard links
  # to le-a3d-s<seed>-d30few
  local b=${2:-[5,10]}
  le_step "$LOG" "DDPM seed $1, head seeds 3-5 at $b" ddpm BUDGETS=$b EXTRA='heads.precision=fp32 heads.seeds=[3,4,5]' \
    SUFFIX=${3:--d32s345} LINK_FROM=-d30few DDPM_SEEDS=$1 CKPT_S$1="$(a3d27_ckpt "$1")" METHODS="$ALL"
}
s345r() {  # s345r SUFFIX CKPT LINK_FROM [BUDGETS]: the same on a random-init U-Net, on hard links to its extraction
  local b=${4:-[5,10]}
  le_step "$LOG" "random-init $2, head seeds 3-5 at $b" control BUDGETS=$b \
    EXTRA="heads.precision=fp32 heads.seeds=[3,4,5]" SUFFIX=$1 LINK_FROM=$3 METHODS="$ALL" CONTROL_CKPT=$2
}
case "${1:-}" in
  laneA) le_step "$LOG" "init-1 checkpoint + small CNN seed 0 at 5" baselines BUDGETS='[5]' \
           EXTRA="heads.precision=fp32 heads.seeds=[0] run.seed=1" SUFFIX=-d32init1 METHODS="['small_cnn']"
         ctl -d32r1a $INIT1 '[0,1]' "$ALL"
         ctl -d32r0cheap $RN0 '[0,1,2]' "$CHEAP" -d31ctl01 ;;
  laneB) cheap 0; cheap 1
         wait_file "$INIT1"; sleep 5
         ctl -d32r1b $INIT1 '[2]' "$ALL" ;;
  laneC) s345 0; s345r -d32r0s345 $RN0 -d31ctl01 ;;
  laneD) s345 1; s345r -d32r1s345 $INIT1 -d32r1a ;;
  # second declared addition (20:58 UTC): head seeds 3-5 at 25 labels
  laneE) s345 0 '[25]' -d32s345b25; s345r -d32r0s345b25 $RN0 -d31ctl01 '[25]' ;;
  laneF) s345 1 '[25]' -d32s345b25; s345r -d32r1s345b25 $INIT1 -d32r1a '[25]' ;;
  *) echo "usage: STOP=<epoch s> $0 laneA|laneB|laneC|laneD|laneE|laneF" >&2; exit 2 ;;
esac
