#!/bin/bash
# Issue 13, twenty-ninth session: the ResNet-18 3D (the goal's own baseline) re-run on this machine under the ninth
# session's AdrenalMNIST3D fp32 / >= 200-step harness at 5, 10 and 25 labels per class, head seeds 0-2, so that the
# feature methods on the three 2000-step DDPMs (le-a3d-s{0,1}-d27few, le-a3d-s2-d28few) can be paired with it per
# test volume; and the seed-2 DDPM's four feature methods at budget `all` (HARNESS=all settings of a3d27_all.sh, on
# hard links to le-a3d-s2-d28few's feature bank, probe grid and KS map).
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d29_rn.sh laneA   # ResNet-18 seed 0; seed 2 at 5, 10; DDPM 2 at `all`
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d29_rn.sh laneB   # ResNet-18 seed 1; seed 2 at 25
# Run both lanes side by side (one thread each). Cells still running at STOP are killed and not reported.
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, a3d27_ckpt
export DATASET=adrenal3d
LOG=${LOG:-/work/logs29}/a3d29_$1.log   # LOG names the log directory, as in a3d27_all.sh
resnet() {  # resnet HEAD_SEED BUDGETS SUFFIX
  le_step "$LOG" "ResNet-18 seed $1 $2" baselines BUDGETS=$2 EXTRA="heads.precision=fp32 heads.seeds=[$1]" \
    SUFFIX=$3 METHODS="['resnet18']"
}
ddpm2_all() {
  le_step "$LOG" "DDPM seed 2 at all" ddpm BUDGETS='[all]' EXTRA='heads.precision=fp32 heads.patience=30' \
    SUFFIX=-d27pat LINK_FROM=-d28few DDPM_SEEDS=2 CKPT_S2="$(a3d27_ckpt 2)" \
    METHODS="['linear_best','linear_ks','cats','dcube_feats']"
}
case "${1:-}" in
  laneA) resnet 0 '[5,10,25]' -d29rn0; resnet 2 '[5,10]' -d29rn2a; ddpm2_all ;;
  laneB) resnet 1 '[5,10,25]' -d29rn1; resnet 2 '[25]' -d29rn2b ;;
  *) echo "usage: STOP=<epoch s> $0 laneA|laneB" >&2; exit 2 ;;
esac
