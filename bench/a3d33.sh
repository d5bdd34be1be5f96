#!/bin/bash
# Issue 13, thirty-third session: AdrenalMNIST3D 28^3, why D-Cube without its image CNN fails on trained 3D
# features. Diagnosis (BENCHMARKS "Issue 13: thirty-third session"): after D-Cube's LayerNorm over channels 99-100% of
# its input variance is a spatial pattern shared by every volume, and the harness mirrors the feature maps (flip
# augmentation and the flip-consistency term). This script re-runs D-Cube without its image CNN (dcube_feats) on the
# two trained DDPMs (le-a3d-s{0,1}-d30few's features) and the two random-initialised U-Nets (init 0:
# le-a3d-random-d31ctl01's features, init 1: le-a3d-random-d32r1a's) at 5, 10, 25, 50 labels, head seeds 0-5, twice:
#   std: heads.dcube_feature_norm=standard (per-feature z-scores from the training rows, never mirrored) + flip weight 0
#   nf : D-Cube's LayerNorm, no mirroring (heads.budget_augment=false: no flips; flip weight 0)
# fp32 / >= 200-step harness (heads.precision=fp32), one thread per job.
#   MEDFX_SRC=/work/frozen33 STOP=<epoch s> bash bench/a3d33.sh laneA   # DDPM 0 and random init 0: std, then nf
#   MEDFX_SRC=/work/frozen33 STOP=<epoch s> bash bench/a3d33.sh laneB   # DDPM 1 and random init 1: std, then nf
#   MEDFX_SRC=/work/frozen33 STOP=<epoch s> bash bench/a3d33.sh laneC|laneD   # declared addition (22:27 UTC): the full
#        D-Cube head, std, head seeds 0-2, at 5-25 then 50 labels, on DDPM 0 and random init 0 (C), DDPM 1 and init 1 (D)
#   MEDFX_SRC=/work/frozen33b STOP=<epoch s> bash bench/a3d33.sh laneE|laneF   # third declared addition (23:48 UTC):
#        the CATS-like head with heads.cats_norm=standard, head seeds 0-2, 5-50 labels (E: DDPM 0, init 0; F: 1, 1)
# Cells still running at STOP are killed and not reported.
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, a3d27_ckpt
export DATASET=adrenal3d
LOG=${LOG:-/work/logs33}/a3d33_${1:-usage}.log   # LOG names the log directory
INIT1=bench/runs/le-a3d-baselines-d32init1/ddpm/ckpt-0000002.pt
RN0=bench/runs/le-a3d-baselines-d31rn0/ddpm/ckpt-0000002.pt   # the first random U-Net (thirty-first session)
SEEDS='[0,1,2,3,4,5]' B4='[5,10,25,50]' M="['dcube_feats']"
declare -A X=([std]="heads.dcube_feature_norm=standard heads.dcube_weights=[1,10,0]" [cstd]="heads.cats_norm=standard"
              [nf]="heads.budget_augment=false heads.dcube_weights=[1,10,0]")
feat() {  # feat DDPM_SEED VARIANT [BUDGETS SEEDS METHODS NAME]: dcube_feats (default) on hard links to
  # le-a3d-s<seed>-d30few's features; NAME (default: VARIANT) ends the run's suffix -d33NAME
  le_step "$LOG" "DDPM seed $1, ${5:-$M} $2 at ${3:-$B4}" ddpm BUDGETS=${3:-$B4} \
    EXTRA="heads.precision=fp32 heads.seeds=${4:-$SEEDS} ${X[$2]}" SUFFIX=-d33${6:-$2} LINK_FROM=-d30few \
    DDPM_SEEDS=$1 CKPT_S$1="$(a3d27_ckpt "$1")" METHODS="${5:-$M}"
}
ctl() {  # ctl INIT CKPT LINK_FROM VARIANT [BUDGETS SEEDS METHODS NAME]: the same on a random-init U-Net, on hard links
  # to LINK_FROM's extraction; the run's suffix is -d33r<INIT><NAME>
  le_step "$LOG" "random-init $1, ${7:-$M} $4 at ${5:-$B4}" control BUDGETS=${5:-$B4} \
    EXTRA="heads.precision=fp32 heads.seeds=${6:-$SEEDS} ${X[$4]}" SUFFIX=-d33r$1${8:-$4} LINK_FROM=$3 \
    METHODS="${7:-$M}" CONTROL_CKPT=$2
}
FULL="['dcube']" S3='[0,1,2]'
case "${1:-}" in
  laneA) feat 0 std; ctl 0 $RN0 -d31ctl01 std; feat 0 nf; ctl 0 $RN0 -d31ctl01 nf ;;
  laneB) feat 1 std; ctl 1 $INIT1 -d32r1a std; feat 1 nf; ctl 1 $INIT1 -d32r1a nf ;;
  # declared addition (22:27 UTC): the full D-Cube head, std, head seeds 0-2: 5-25 labels first, then 50
  laneC) feat 0 std '[5,10,25]' $S3 "$FULL" fullstd; ctl 0 $RN0 -d31ctl01 std '[5,10,25]' $S3 "$FULL" fullstd
         feat 0 std '[50]' $S3 "$FULL" fullstd50; ctl 0 $RN0 -d31ctl01 std '[50]' $S3 "$FULL" fullstd50 ;;
  laneD) feat 1 std '[5,10,25]' $S3 "$FULL" fullstd; ctl 1 $INIT1 -d32r1a std '[5,10,25]' $S3 "$FULL" fullstd
         feat 1 std '[50]' $S3 "$FULL" fullstd50; ctl 1 $INIT1 -d32r1a std '[50]' $S3 "$FULL" fullstd50 ;;
  # third declared addition (23:48 UTC): the CATS-like head z-scored (it is never mirrored under budgets anyway)
  laneE) feat 0 cstd $B4 $S3 "['cats']" catsstd; ctl 0 $RN0 -d31ctl01 cstd $B4 $S3 "['cats']" catsstd ;;
  laneF) feat 1 cstd $B4 $S3 "['cats']" catsstd; ctl 1 $INIT1 -d32r1a cstd $B4 $S3 "['cats']" catsstd ;;
  *) echo "usage: STOP=<epoch s> $0 laneA|laneB|laneC|laneD|laneE|laneF" >&2; exit 2 ;;
esac
