#!/bin/bash
# Issue 13, forty-fifth session (BENCHMARKS "Issue 13: forty-fifth session", D; pre-registered): brain MRI 64^2 at 25
# labels per class, the DDPM's U-Net fine-tuned end to end (`backbone_ft`, the thirty-ninth session's method and
# settings: heads.ft_lr_scale=1.0) on the first DDPM pair b64-s{4,5}, head seeds 0-5, with the KS-keys probe of the
# same run as a same-run reference. The feature banks (used to choose the fine-tuned cell on validation) are linked
# from the forty-first session's le-b64-s<SEED>-d41 runs (same seeds, budgets drawn the same way).
#   ft25 SEED   le-b64-s<SEED>-d45ft25: backbone_ft and linear_ks at [25], head seeds 0-5
#   MEDFX_SRC=/work/frozen40 STOP=<epoch s> bash bench/b64_45.sh ft25 4 &   (and ft25 5, one thread each)
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step
export DATASET=brain64
LOG=${LOG:-/work/logs45}/b64_45_${1:-usage}${2:-}.log
X="heads.precision=fp32 data.path=.dev/brain64_dedup.npz data.max_per_split=null heads.ft_lr_scale=1.0"
R=${DDPM_RUNS:-/work/ddpm_runs}
case "${1:-} ${2:-}" in
  "ft25 "[0-9]*)
    ck="$R/b64-s$2/ckpt-0003000.pt"
    le_step "$LOG" "brain DDPM seed $2, backbone_ft and linear_ks at [25], seeds 0-5" ddpm BUDGETS=[25] \
      EXTRA="$X heads.seeds=[0,1,2,3,4,5]" SUFFIX=-d45ft25 LINK_FROM=-d41 DDPM_SEEDS="$2" CKPT_S"$2"="$ck" \
      METHODS="['backbone_ft','linear_ks']" ;;
  *) echo "usage: STOP=<epoch s> $0 ft25 SEED" >&2; exit 2 ;;
esac
