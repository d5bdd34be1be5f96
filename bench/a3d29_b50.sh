#!/bin/bash
# Issue 13, twenty-ninth session: AdrenalMNIST3D at 50 labels per class on the three 2000-step DDPMs of this CPU type
# (a3d27-s{0,1,2}; the thirteenth session's 50-label row used two other DDPMs of the recipe, trained on an AMD
# machine), fp32 / >= 200-step harness (heads.precision=fp32, the harness's default patience, as the thirteenth
# session), with the small CNN re-run beside them. Feature methods on hard links to le-a3d-s{0,1,2}-d27pat's feature
# banks, probe grids and KS maps (runs le-a3d-s{0,1,2}-d29b50); small CNN le-a3d-baselines-d29b50small{0,1,2}.
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d29_b50.sh laneA   # DDPMs 0 and 1, then small CNN seed 2
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d29_b50.sh laneB   # DDPM 2, then small CNN seeds 0 and 1
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d29_b50.sh feats SEED   # one DDPM's feature methods only
# Run both lanes side by side (one thread each). Cells still running at STOP are killed and not reported.
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, a3d27_ckpt
export DATASET=adrenal3d BUDGETS='[50]'
LOG=${LOG:-/work/logs29}/a3d29_b50_$1${2:-}.log   # LOG names the log directory
feats() {  # feats DDPM_SEED
  le_step "$LOG" "DDPM seed $1" ddpm EXTRA='heads.precision=fp32' SUFFIX=-d29b50 LINK_FROM=-d27pat DDPM_SEEDS=$1 \
    CKPT_S$1="$(a3d27_ckpt $1)" METHODS="['linear_best','linear_ks','cats','dcube_feats']"
}
small_cnn() {  # small_cnn HEAD_SEED
  le_step "$LOG" "small CNN seed $1" baselines EXTRA="heads.precision=fp32 heads.seeds=[$1]" \
    SUFFIX=-d29b50small$1 METHODS="['small_cnn']"
}
case "${1:-}" in
  laneA) feats 0; feats 1; small_cnn 2 ;;
  feats) feats "$2" ;;  # one DDPM's feature methods only
  laneB) feats 2; small_cnn 0; small_cnn 1 ;;
  *) echo "usage: STOP=<epoch s> $0 laneA|laneB|feats SEED" >&2; exit 2 ;;
esac
