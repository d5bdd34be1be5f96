#!/bin/bash
# Issue 13, thirtieth session: AdrenalMNIST3D at 5 and 10 labels per class with the full D-Cube head on the 3D DDPMs
# of the recipe, and every reference it is measured against trained in the same session: the ResNet-18 3D (the goal's
# baseline), D-Cube's image CNN alone (the attribution ablation) and the small CNN. Until now the full D-Cube head's
# 5-25-label cells existed only from the fifteenth session (two other DDPMs, an AMD machine), paired with the
# ResNet-18 3D by head seed only. fp32 / >= 200-step harness (heads.precision=fp32, the harness's default patience).
# The DDPMs are bench/a3d27_ddpm.sh's seeds 0 and 1, retrained on this machine (the lane waits for the last
# checkpoint); features extracted afresh (NOLINK): runs le-a3d-s{0,1}-d30few. CNNs: le-a3d-baselines-d30rn{0,1,2}
# (ResNet-18 3D) and le-a3d-baselines-d30cnn{0,1,2} (D-Cube's image CNN alone, small CNN), one head seed per run.
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d30.sh laneA   # DDPM 0; ResNet seed 0; CNNs seed 0; ResNet seed 2
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d30.sh laneB   # DDPM 1; ResNet seed 1; CNNs seeds 1 and 2
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d30.sh b25A    # declared addition, 25 labels: the full D-Cube head on
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d30.sh b25B    # DDPM 0 (A) / 1 (B), D-Cube's image CNN alone seeds 0, 2 (A) / 1 (B)
# Run both lanes side by side (one thread each). Cells still running at STOP are killed and not reported.
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, le_cnn, a3d27_ckpt, a3d27_wait_ckpt
export DATASET=adrenal3d BUDGETS='[5,10]'
LOG=${LOG:-/work/logs30}/a3d30_$1.log   # LOG names the log directory
feats() {  # feats DDPM_SEED: the DDPM's last checkpoint (waited for), then extraction and the five feature methods
  local ck; ck=$(a3d27_wait_ckpt "$1")
  le_step "$LOG" "DDPM seed $1" ddpm EXTRA='heads.precision=fp32' SUFFIX=-d30few NOLINK=1 DDPM_SEEDS=$1 \
    CKPT_S$1="$ck" METHODS="['linear_best','linear_ks','cats','dcube_feats','dcube']"
}
cnns() { le_cnn "$LOG" "$1" "$2" "$3" "${4:-$BUDGETS}"; }  # cnns HEAD_SEED METHODS SUFFIX [BUDGETS] (default [5,10])
b25() {  # b25 DDPM_SEED: the full D-Cube head at 25 labels on hard links to le-a3d-s<seed>-d30few's features and KS map
  le_step "$LOG" "DDPM seed $1 at 25" ddpm BUDGETS='[25]' EXTRA='heads.precision=fp32' SUFFIX=-d30b25 LINK_FROM=-d30few \
    DDPM_SEEDS=$1 CKPT_S$1="$(a3d27_ckpt "$1")" METHODS="['dcube']"
}
RN="['resnet18']" CNN="['dcube_cnn','small_cnn']"
case "${1:-}" in
  laneA) feats 0; cnns 0 "$RN" -d30rn0; cnns 0 "$CNN" -d30cnn0; cnns 2 "$RN" -d30rn2 ;;
  laneB) feats 1; cnns 1 "$RN" -d30rn1; cnns 1 "$CNN" -d30cnn1; cnns 2 "$CNN" -d30cnn2 ;;
  b25A) b25 0; cnns 0 "['dcube_cnn']" -d30b25cnn0 '[25]'; cnns 2 "['dcube_cnn']" -d30b25cnn2 '[25]' ;;
  b25B) b25 1; cnns 1 "['dcube_cnn']" -d30b25cnn1 '[25]' ;;
  *) echo "usage: STOP=<epoch s> $0 laneA|laneB|b25A|b25B" >&2; exit 2 ;;
esac
