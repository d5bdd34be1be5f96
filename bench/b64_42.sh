#!/bin/bash
# Issue 13, forty-second session, declared addition 3 (BENCHMARKS "Issue 13: forty-second session"): brain MRI 64^2 at
# 5 labels per class on a THIRD set of six labelled draws (head seeds 24-29), on the same DDPMs as the first two
# (b64-s4, b64-s5, 3000 steps), every cell trained afresh on this machine; analysed by
# `bench/fuse41_summary.sh b64s24`.
#   probes        the probes on both DDPMs (le-b64-s{4,5}-d42s24, feature banks linked from -d39), the small CNN
#                 (le-b64-baselines-d42sc24), the probes on the random-init U-Net (le-b64-random-d42rs24, linked from
#                 le-b64-random-d41r)
#   rn SEEDS TAG  the ResNet-18 for those head seeds (le-b64-baselines-d42<TAG>)
#   MEDFX_SRC=/work/frozen40 STOP=<epoch s> bash bench/b64_42.sh probes &   bash bench/b64_42.sh rn [24,25,26] rn24a &
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step
export DATASET=brain64
LOG=${LOG:-/work/logs42}/b64_42_${1:-usage}${3:-}.log   # LOG names the log directory
BRAIN="heads.precision=fp32 data.path=.dev/brain64_dedup.npz data.max_per_split=null heads.ft_lr_scale=1.0"
X="$BRAIN heads.seeds=[24,25,26,27,28,29]"
P="['linear_best','linear_ks','linear_topk']"
R=${DDPM_RUNS:-/work/ddpm_runs}
case "${1:-}" in
  probes)
    for s in 4 5; do
      le_step "$LOG" "brain DDPM seed $s, probes, seeds 24-29" ddpm BUDGETS=[5] EXTRA="$X" SUFFIX=-d42s24 \
        LINK_FROM=-d39 DDPM_SEEDS=$s CKPT_S$s="$R/b64-s$s/ckpt-0003000.pt" METHODS="$P"
    done
    le_step "$LOG" "brain small CNN, seeds 24-29" baselines BUDGETS=[5] EXTRA="$X" SUFFIX=-d42sc24 METHODS="['small_cnn']"
    le_step "$LOG" "brain random-init probes, seeds 24-29" control BUDGETS=[5] EXTRA="$X" SUFFIX=-d42rs24 \
      LINK_FROM=-d41r METHODS="$P" CONTROL_CKPT=bench/runs/le-b64-baselines-d39rn5/ddpm/ckpt-0000002.pt ;;
  rn) le_step "$LOG" "brain ResNet-18, seeds $2" baselines BUDGETS=[5] EXTRA="$BRAIN heads.seeds=$2" SUFFIX=-d42"$3" \
        METHODS="['resnet18']" ;;
  *) echo "usage: STOP=<epoch s> $0 probes | rn SEEDS TAG" >&2; exit 2 ;;
esac
