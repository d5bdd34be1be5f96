#!/bin/bash
# Issue 13, fiftieth session (BENCHMARKS "Issue 13: fiftieth session"; pre-registered, run only if the pretraining-
# augmentation pilot passed): AdrenalMNIST3D at 5 labels per class on two NEW sets of six labelled draws, D1 = head
# seeds 60-65 and D2 = 66-71 (never drawn on any dataset), for the test of `fuse_ens` on the augmented DDPM pair
# a3d50aug-s{7,8} (bench/a3d50t_summary.sh). Every cell is new; the feature banks are hard-linked from the runs of the
# pilot (le-a3d-s{7,8}-d50aug and, for the unaugmented pair of the same run.seeds, le-a3d-s{7,8}-d49).
#   probes        the probes on a3d50aug-s{7,8} (le-a3d-s{7,8}-d50taug) and on a3d27-s{7,8} (le-a3d-s{7,8}-d50t,
#                 descriptive), head seeds 60-71
#   random RSEED  a random-init U-Net: a 2-step throwaway DDPM with run.seed=RSEED (le-a3d-baselines-d50tseed<RSEED>,
#                 one small-CNN cell at head seed 0 for its bookkeeping), then the probes on it, extracted afresh
#                 (le-a3d-random-d50tr<RSEED>), head seeds 60-71
#   cnns SEEDS TAG  the small CNN 3D and the ResNet-18 3D at [5] for those head seeds (le-a3d-baselines-d50t<TAG>)
#   MEDFX_SRC=/work/frozen49 STOP=<epoch s> bash bench/a3d50t.sh probes &
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step
usage() { echo "usage: STOP=<epoch s> $0 probes | random RSEED | cnns SEEDS TAG" >&2; exit 2; }
LOG=${LOG:-/work/logs50}/a3d50t_${1:-usage}${3:-}${2:-}.log
export DATASET=adrenal3d
S="[60,61,62,63,64,65,66,67,68,69,70,71]"
X="heads.precision=fp32 heads.seeds=$S"
P="['linear_best','linear_topk']"
R=${DDPM_RUNS:-/work/ddpm_runs}
case "${1:-}" in
  probes)
    [ $# -eq 1 ] || usage
    for s in 7 8; do
      le_step "$LOG" "3D augmented DDPM seed $s, probes, seeds 60-71" ddpm BUDGETS=[5] EXTRA="$X" SUFFIX=-d50taug \
        LINK_FROM=-d50aug DDPM_SEEDS=$s CKPT_S$s="$R/a3d50aug-s$s/ckpt-0002000.pt" METHODS="$P"
    done
    for s in 7 8; do
      le_step "$LOG" "3D DDPM seed $s, probes, seeds 60-71" ddpm BUDGETS=[5] EXTRA="$X" SUFFIX=-d50t \
        LINK_FROM=-d49 DDPM_SEEDS=$s CKPT_S$s="$R/a3d27-s$s/ckpt-0002000.pt" METHODS="$P"
    done ;;
  random)
    [ $# -eq 2 ] || usage
    le_step "$LOG" "3D throwaway DDPM run.seed $2" baselines BUDGETS=[5] \
      EXTRA="heads.precision=fp32 heads.seeds=[0] run.seed=$2" SUFFIX=-d50tseed"$2" METHODS="['small_cnn']"
    le_step "$LOG" "3D random-init (run.seed $2) probes, seeds 60-71" control BUDGETS=[5] EXTRA="$X" \
      SUFFIX=-d50tr"$2" NOLINK=1 METHODS="$P" CONTROL_CKPT=bench/runs/le-a3d-baselines-d50tseed"$2"/ddpm/ckpt-0000002.pt ;;
  cnns)
    [ $# -eq 3 ] || usage
    le_step "$LOG" "3D small CNN and ResNet-18, seeds $2" baselines BUDGETS=[5] \
      EXTRA="heads.precision=fp32 heads.seeds=$2" SUFFIX=-d50t"$3" METHODS="['small_cnn','resnet18']" ;;
  *) usage ;;
esac
