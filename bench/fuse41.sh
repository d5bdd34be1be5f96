#!/bin/bash
# Issue 13, forty-first session (BENCHMARKS "Issue 13: forty-first session"): the brain MRI 64^2 cells that the
# fusion analysis (bench/fuse_cells.py, bench/fuse41_summary.sh) needs beyond those of the thirty-ninth session, all on
# the thirty-ninth session's two DDPMs (b64-s4, b64-s5, 3000 steps) and head seeds 0-5, on this machine:
#   topk SEED        linear_best, linear_ks, linear_topk at [5,10,25] on DDPM SEED (le-b64-s<SEED>-d41; the
#                    feature banks, probe grid and KS map hard-linked from le-b64-s<SEED>-d39: nothing re-extracted)
#   random           the same probes on the 2-step random-init U-Net of le-b64-baselines-d39rn5 (le-b64-random-d41r;
#                    extracted afresh)
#   cnn METHODS BUDGETS SEEDS TAG   the CNNs from scratch (le-b64-baselines-d41<TAG>), e.g. cnn "'resnet18'" [25] [0,1,2] rn25a
# fp32 / >= 200-step harness as in bench/b64_39.sh, one thread per job.
#   MEDFX_SRC=/work/frozen40 STOP=<epoch s> bash bench/fuse41.sh topk 4 &
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step
export DATASET=brain64
LOG=${LOG:-/work/logs41}/fuse41_${1:-usage}${2:-}${5:-}.log   # LOG names the log directory
X="heads.precision=fp32 data.path=.dev/brain64_dedup.npz data.max_per_split=null heads.ft_lr_scale=1.0"
P="['linear_best','linear_ks','linear_topk']"
case "${1:-}" in
  topk) le_step "$LOG" "DDPM seed $2, probes at [5,10,25]" ddpm BUDGETS=[5,10,25] EXTRA="$X heads.seeds=[0,1,2,3,4,5]" \
          SUFFIX=-d41 LINK_FROM=-d39 DDPM_SEEDS="$2" CKPT_S"$2"="${DDPM_RUNS:-/work/ddpm_runs}/b64-s$2/ckpt-0003000.pt" \
          METHODS="$P" ;;
  random) le_step "$LOG" "random-init U-Net, probes at [5,10,25]" control BUDGETS=[5,10,25] \
            EXTRA="$X heads.seeds=[0,1,2,3,4,5]" SUFFIX=-d41r NOLINK=1 METHODS="$P" \
            CONTROL_CKPT=bench/runs/le-b64-baselines-d39rn5/ddpm/ckpt-0000002.pt ;;
  cnn) le_step "$LOG" "$2 at $3, head seeds $4" baselines BUDGETS="$3" EXTRA="$X heads.seeds=$4" SUFFIX=-d41"$5" \
         METHODS="[$2]" ;;
  *) echo "usage: STOP=<epoch s> $0 topk SEED | random | cnn METHODS BUDGETS SEEDS TAG" >&2; exit 2 ;;
esac
