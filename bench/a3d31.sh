#!/bin/bash
# Issue 13, thirty-first session: AdrenalMNIST3D at 25 and 50 labels per class, the full D-Cube head against the CNNs
# trained beside it. The thirtieth session trained the full D-Cube head at 25 labels on the two retrained 3D DDPMs
# (le-a3d-s{0,1}-d30b25) with D-Cube's image CNN alone, but not the ResNet-18 3D (the goal's baseline) or the small
# CNN, so the head had no per-volume comparison against them at 25. This script trains them at 25 labels
# (le-a3d-baselines-d31rn{0,1,2}, -d31small{0,1,2}), then runs the full D-Cube head at 50 labels on the same DDPMs
# (le-a3d-s{0,1}-d31b50, hard links to le-a3d-s{0,1}-d30few's features and KS maps) with D-Cube's image CNN alone and
# the small CNN at 50 (le-a3d-baselines-d31b50cnn{0,1,2}). fp32 / >= 200-step harness (heads.precision=fp32, the
# harness's default patience), head seeds 0-2, one seed per CNN run.
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d31.sh laneA  # ResNet seeds 0, 2 at 25; D-Cube head DDPM 0 at 50;
#                                                                      # image CNN + small CNN seed 0 at 50
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d31.sh laneB  # ResNet seed 1 and small CNN seeds 0-2 at 25;
#                                                                      # D-Cube head DDPM 1 at 50; CNNs seeds 1, 2 at 50
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d31.sh ctlA|ctlB  # the full D-Cube head at 10 and 50 labels on
#                                                                      # the random-init U-Net, head seeds 0-1 (A) / 2 (B)
# Run both lanes side by side (one thread each). Cells still running at STOP are killed and not reported.
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, le_cnn, a3d27_ckpt
export DATASET=adrenal3d
LOG=${LOG:-/work/logs31}/a3d31_$1.log   # LOG names the log directory
cnns() { le_cnn "$LOG" "$@"; }  # cnns HEAD_SEED METHODS SUFFIX BUDGETS: CNN baselines, one head seed
b50() {  # b50 DDPM_SEED: the full D-Cube head at 50 labels on hard links to le-a3d-s<seed>-d30few's features and KS map
  le_step "$LOG" "DDPM seed $1 at 50" ddpm BUDGETS='[50]' EXTRA='heads.precision=fp32' SUFFIX=-d31b50 LINK_FROM=-d30few \
    DDPM_SEEDS=$1 CKPT_S$1="$(a3d27_ckpt "$1")" METHODS="['dcube']"
}
ctl() {  # ctl SUFFIX HEAD_SEEDS [BUDGETS]: the full D-Cube head at 10 and 50 labels (or BUDGETS) on the random-initialised U-Net (the 2-step
  # throwaway DDPM of the baselines runs, identical in every one of them): does the head's gain over its image CNN
  # need diffusion pretraining? Features extracted afresh in each run (NOLINK).
  le_step "$LOG" "random-init U-Net, head seeds $2" control BUDGETS=${3:-[10,50]} \
    EXTRA="heads.precision=fp32 heads.seeds=$2" SUFFIX=$1 NOLINK=1 METHODS="['dcube']" \
    CONTROL_CKPT=bench/runs/le-a3d-baselines-d31rn0/ddpm/ckpt-0000002.pt
}
RN="['resnet18']" SMALL="['small_cnn']" CNN="['dcube_cnn','small_cnn']"
case "${1:-}" in
  laneA) cnns 0 "$RN" -d31rn0 '[25]'; cnns 2 "$RN" -d31rn2 '[25]'; b50 0; cnns 0 "$CNN" -d31b50cnn0 '[50]' ;;
  laneB) cnns 1 "$RN" -d31rn1 '[25]'; for s in 0 1 2; do cnns $s "$SMALL" -d31small$s '[25]'; done
         b50 1; cnns 1 "$CNN" -d31b50cnn1 '[50]'; cnns 2 "$CNN" -d31b50cnn2 '[50]' ;;
  ctlA) ctl -d31ctl01 '[0,1]' ;;  # declared addition (18:27 UTC): the random-init control, head seeds 0 and 1
  ctlB) ctl -d31ctl2 '[2]' ;;     # and head seed 2 (runs le-a3d-random-d31ctl01, le-a3d-random-d31ctl2)
  ctl5A) ctl -d31ctl5_01 '[0,1]' '[5,25]' ;;  # second declared addition (19:00 UTC): the same control at 5 and 25 labels
  ctl5B) ctl -d31ctl5_2 '[2]' '[5,25]' ;;
  *) echo "usage: STOP=<epoch s> $0 laneA|laneB|ctlA|ctlB|ctl5A|ctl5B" >&2; exit 2 ;;
esac
