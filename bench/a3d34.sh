#!/bin/bash
# Issue 13, thirty-fourth session: AdrenalMNIST3D 28^3 at 5 and 10 labels per class.
#   laneCNN: the CNN baselines for head seeds 3-5 (the goal's ResNet-18 3D, then the small CNN), so that the goal
#            comparison at 5 and 10 labels has six head seeds like the feature heads (the thirtieth session trained
#            seeds 0-2: le-a3d-baselines-d30rn{0,1,2}, -d30cnn{0,1,2}). Runs le-a3d-baselines-d34rn{3,4,5}
#            (ResNet-18 3D, one head seed each) and le-a3d-baselines-d34small345 (small CNN, seeds 3-5).
# fp32 / >= 200-step harness (heads.precision=fp32), one thread per job. Cells still running at STOP are killed and
# not reported.
#   MEDFX_SRC=/work/frozen34 STOP=<epoch s> bash bench/a3d34.sh laneCNN
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, le_cnn
export DATASET=adrenal3d
LOG=${LOG:-/work/logs34}/a3d34_${1:-usage}.log   # LOG names the log directory
B='[5,10]'
case "${1:-}" in
  laneCNN)
    for s in 3 4 5; do le_cnn "$LOG" $s "['resnet18']" -d34rn$s "$B"; done
    le_step "$LOG" "small_cnn seeds 3-5 at $B" baselines BUDGETS=$B EXTRA="heads.precision=fp32 heads.seeds=[3,4,5]" \
      SUFFIX=-d34small345 METHODS="['small_cnn']" ;;
  *) echo "usage: STOP=<epoch s> $0 laneCNN" >&2; exit 2 ;;
esac
