#!/bin/bash
# Issue 13, thirty-ninth session (BENCHMARKS "Issue 13: thirty-ninth session"): brain MRI 64^2 (the de-duplicated
# split, .dev/brain64_dedup.npz from bench/make_brain64_npz.py), the DDPM's U-Net fine-tuned end to end (backbone_ft)
# against the ResNet-18 from scratch, the small CNN and the frozen probes, all trained on THIS machine: two new
# 3000-step DDPMs of the b64 recipe (seeds 4 and 5), budgets drawn from the complete training split, head seeds 0-5.
#   ft SEED                     linear_best, linear_ks, backbone_ft on DDPM SEED (le-b64-s<SEED>-d39; extracted afresh)
#   cnn METHODS BUDGETS SEEDS TAG  the CNNs from scratch, e.g. cnn "'resnet18'" [10] [0,1,2] rn10a (le-b64-baselines-d39<TAG>)
# The DDPMs (one thread each, both at once, bf16 autocast on a CPU with native bf16):
#   for s in 4 5; do OMP_NUM_THREADS=1 PYTHONPATH=$MEDFX_SRC python -P -m medfx pretrain preset=cpu-64 \
#     data.path=.dev/brain64_dedup.npz data.max_per_split=null run.seed=$s run.name=b64-s$s run.out_dir=$DDPM_RUNS \
#     run.threads=1 run.device=cpu train.steps=3000 train.batch_size=32 train.sample_every=0 train.precision=auto & done
# fp32 / >= 200-step harness (heads.precision=fp32), heads.ft_lr_scale=1.0 (the package default), one thread per job.
#   MEDFX_SRC=/work/frozen39 STOP=<epoch s> bash bench/b64_39.sh ft 4 &
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, wait_ckpt
export DATASET=brain64
LOG=${LOG:-/work/logs39}/b64_39_${1:-usage}${2:-}${5:-}.log   # LOG names the log directory
X="heads.precision=fp32 data.path=.dev/brain64_dedup.npz data.max_per_split=null heads.ft_lr_scale=1.0"
ckpt() { echo "${DDPM_RUNS:-/work/ddpm_runs}/b64-s$1/ckpt-0003000.pt"; }
case "${1:-}" in
  ft) ck=$(ckpt "$2")
      wait_ckpt "$ck" 60
      le_step "$LOG" "DDPM seed $2, probes and backbone_ft at [5,10]" ddpm BUDGETS=[5,10] \
        EXTRA="$X heads.seeds=[0,1,2,3,4,5]" SUFFIX=-d39 NOLINK=1 DDPM_SEEDS="$2" CKPT_S"$2"="$ck" \
        METHODS="['linear_best','linear_ks','backbone_ft']" ;;
  cnn) le_step "$LOG" "$2 at $3, head seeds $4" baselines BUDGETS="$3" EXTRA="$X heads.seeds=$4" SUFFIX=-d39"$5" \
         METHODS="[$2]" ;;
  *) echo "usage: STOP=<epoch s> $0 ft SEED | cnn METHODS BUDGETS SEEDS TAG" >&2; exit 2 ;;
esac
