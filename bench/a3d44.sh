#!/bin/bash
# Issue 13, forty-fourth session (BENCHMARKS "Issue 13: forty-fourth session"; pre-registered): `fuse_ens` at 10 labels
# per class in 3D on two more draw sets, D2 (head seeds 30-35) and D3 (36-41). Feature banks linked from the -d43 runs.
#   probes SEEDS SET  the probes on a3d27-s{3,4,5,6} (le-a3d-s<seed>-d44<SET>), the small CNN (le-a3d-baselines-d44<SET>sc),
#                     the probes on the two random-init U-Nets (le-a3d-random-d44<SET>r{0,1}), all at [10]
#   rn SEEDS TAG      the ResNet-18 3D at [10] for those head seeds (le-a3d-baselines-d44<TAG>)
#   MEDFX_SRC=/work/frozen40 STOP=<epoch s> bash bench/a3d44.sh probes [30,31,32,33,34,35] d2 &
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step
LOG=${LOG:-/work/logs44}/a3d44_${1:-usage}${3:-}.log
export DATASET=adrenal3d
P="['linear_best','linear_ks','linear_topk']"
R=${DDPM_RUNS:-/work/ddpm_runs}
case "${1:-}" in
  probes)
    X="heads.precision=fp32 heads.seeds=$2"
    for s in 3 4 5 6; do
      le_step "$LOG" "3D DDPM seed $s, probes at 10, seeds $2" ddpm BUDGETS=[10] EXTRA="$X" SUFFIX=-d44"$3" \
        LINK_FROM=-d43 DDPM_SEEDS=$s CKPT_S$s="$R/a3d27-s$s/ckpt-0002000.pt" METHODS="$P"
    done
    le_step "$LOG" "3D small CNN at 10, seeds $2" baselines BUDGETS=[10] EXTRA="$X" SUFFIX=-d44"$3"sc \
      METHODS="['small_cnn']"
    le_step "$LOG" "3D random-init (run.seed 0) probes at 10, seeds $2" control BUDGETS=[10] EXTRA="$X" \
      SUFFIX=-d44"$3"r0 LINK_FROM=-d43r0 METHODS="$P" CONTROL_CKPT=bench/runs/le-a3d-baselines-d40small/ddpm/ckpt-0000002.pt
    le_step "$LOG" "3D random-init (run.seed 1) probes at 10, seeds $2" control BUDGETS=[10] EXTRA="$X" \
      SUFFIX=-d44"$3"r1 LINK_FROM=-d43r1 METHODS="$P" CONTROL_CKPT=bench/runs/le-a3d-baselines-d43seed1/ddpm/ckpt-0000002.pt ;;
  rn)
    le_step "$LOG" "3D ResNet-18 at 10, seeds $2" baselines BUDGETS=[10] EXTRA="heads.precision=fp32 heads.seeds=$2" \
      SUFFIX=-d44"$3" METHODS="['resnet18']" ;;
  *) echo "usage: STOP=<epoch s> $0 probes SEEDS SET | rn SEEDS TAG" >&2; exit 2 ;;
esac
