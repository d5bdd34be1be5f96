#!/bin/bash
# Issue 13, forty-third session (BENCHMARKS "Issue 13: forty-third session"): AdrenalMNIST3D at 5 labels per class on
# two NEW sets of six labelled draws (head seeds 24-29 and 30-35), for the pre-registered test of the two-DDPM
# ensemble fusion `fuse_ens` (bench/fuse43_summary.sh). Every cell is new; the feature banks are hard-linked from the
# fortieth session's runs.
#   probes        the probes on a3d27-s{3,4} (le-a3d-s{3,4}-d43, linked from -d40), the small CNN
#                 (le-a3d-baselines-d43sc), the probes on the random-init U-Net of run.seed 0 (le-a3d-random-d43r0,
#                 linked from -d40r0); all head seeds 24-35
#   random1       a second random-init U-Net: a 2-step throwaway DDPM with run.seed=1 (le-a3d-baselines-d43seed1,
#                 one small-CNN cell at head seed 0 for its bookkeeping), then the probes on it, extracted afresh
#                 (le-a3d-random-d43r1), head seeds 12-35 (12-23 for the descriptive look at the read draws)
#   rn SEEDS TAG  the ResNet-18 3D at [5] for those head seeds (le-a3d-baselines-d43<TAG>)
#   ddpm SEED     (secondary) a new 2000-step 3D DDPM a3d27-s<SEED> (bench/a3d27_ddpm.sh), then the probes on it at
#                 head seeds 24-35 (le-a3d-s<SEED>-d43, extracted afresh)
#   MEDFX_SRC=/work/frozen40 STOP=<epoch s> bash bench/a3d43.sh probes &
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, a3d27_ckpt, a3d27_wait_ckpt
LOG=${LOG:-/work/logs43}/a3d43_${1:-usage}${3:-}${2:-}.log
export DATASET=adrenal3d
X="heads.precision=fp32 heads.seeds=[24,25,26,27,28,29,30,31,32,33,34,35]"
P="['linear_best','linear_ks','linear_topk']"
R=${DDPM_RUNS:-/work/ddpm_runs}
case "${1:-}" in
  probes)
    for s in 3 4; do
      le_step "$LOG" "3D DDPM seed $s, probes, seeds 24-35" ddpm BUDGETS=[5] EXTRA="$X" SUFFIX=-d43 LINK_FROM=-d40 \
        DDPM_SEEDS=$s CKPT_S$s="$R/a3d27-s$s/ckpt-0002000.pt" METHODS="$P"
    done
    le_step "$LOG" "3D small CNN, seeds 24-35" baselines BUDGETS=[5] EXTRA="$X" SUFFIX=-d43sc METHODS="['small_cnn']"
    le_step "$LOG" "3D random-init (run.seed 0) probes, seeds 24-35" control BUDGETS=[5] EXTRA="$X" SUFFIX=-d43r0 \
      LINK_FROM=-d40r0 METHODS="$P" CONTROL_CKPT=bench/runs/le-a3d-baselines-d40small/ddpm/ckpt-0000002.pt ;;
  random1)
    le_step "$LOG" "3D throwaway DDPM run.seed 1" baselines BUDGETS=[5] \
      EXTRA="heads.precision=fp32 heads.seeds=[0] run.seed=1" SUFFIX=-d43seed1 METHODS="['small_cnn']"
    le_step "$LOG" "3D random-init (run.seed 1) probes, seeds 12-35" control BUDGETS=[5] \
      EXTRA="heads.precision=fp32 heads.seeds=[12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35]" \
      SUFFIX=-d43r1 NOLINK=1 METHODS="$P" CONTROL_CKPT=bench/runs/le-a3d-baselines-d43seed1/ddpm/ckpt-0000002.pt ;;
  rn)
    le_step "$LOG" "3D ResNet-18, seeds $2" baselines BUDGETS=[5] EXTRA="heads.precision=fp32 heads.seeds=$2" \
      SUFFIX=-d43"$3" METHODS="['resnet18']" ;;
  ddpm)
    mkdir -p "$(dirname "$LOG")"   # (le_step makes it; this line writes first)
    echo "start DDPM a3d27-s$2: $(date -u +%H:%M:%S)" >> "$LOG"
    run_left "$LOG" bash bench/a3d27_ddpm.sh "$2"
    echo "end DDPM a3d27-s$2: $(date -u +%H:%M:%S)" >> "$LOG"
    a3d27_wait_ckpt "$2"
    le_step "$LOG" "3D DDPM seed $2, probes, seeds 24-35" ddpm BUDGETS=[5] EXTRA="$X" SUFFIX=-d43 NOLINK=1 \
      DDPM_SEEDS="$2" CKPT_S$2="$(a3d27_ckpt "$2")" METHODS="$P" ;;
  *) echo "usage: STOP=<epoch s> $0 probes | random1 | rn SEEDS TAG | ddpm SEED" >&2; exit 2 ;;
esac
