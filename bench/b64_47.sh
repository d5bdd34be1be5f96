#!/bin/bash
# Issue 13, forty-seventh session (BENCHMARKS "Issue 13: forty-seventh session"; pre-registered): the brain MRI 64^2
# 5-label late-fusion result reproduced FROM SCRATCH on another CPU type (nothing linked from earlier runs): two new
# DDPMs, a new set of six labelled draws (head seeds 42-47, never drawn on brain MRI), the CNNs and the random-init
# U-Net, all trained here. The design of bench/pn46.sh, on the de-duplicated brain split.
# Data (from the repository root; both are made by these two commands, ~1 min):
#   medfx data check ../shared/data/brain_tumor_mri_4class --out bench/data/brain4_check --dedup bench/data/brain4_dedup.csv
#   python bench/make_brain64_npz.py bench/data/brain4_dedup.csv .dev/brain64_dedup.npz
#   ddpm SEED     a 3000-step DDPM b64-s<SEED> in $DDPM_RUNS (default bench/runs/ddpm): the b64 recipe of b64-s{4..7}
#                 (preset cpu-64, all 5667 de-duplicated training images without labels, batch 32, precision auto)
#   probes SEED   waits for that DDPM's last checkpoint, then the probes on it at 5 labels (le-b64-s<SEED>-d47)
#   cnns          ResNet-18 and small CNN at 5 labels (le-b64-baselines-d47; its 2-step throwaway DDPM is the
#                 random-init U-Net)
#   control       waits for that throwaway checkpoint, then the probes on the random-init U-Net (le-b64-random-d47)
#   all           everything above in two lanes of one thread each (ddpm 9, probes 9, cnns | ddpm 10, probes 10,
#                 control), then bench/b64_47_summary.sh > bench/results/b64_47.txt
# fp32 / >= 200-step harness (heads.precision=fp32), one thread per job. Example: STOP=$(date -d '+3 hours' +%s)
# bash bench/b64_47.sh all   (STOP: epoch seconds after which no step starts and a running one is killed)
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, run_left, wait_ckpt
export DATASET=brain64
L=${LOG:-bench/runs/logs}/b64_47_${1:-usage}${2:-}.log   # LOG: the log folder
B=[5]
X="heads.precision=fp32 data.path=.dev/brain64_dedup.npz data.max_per_split=null heads.ft_lr_scale=1.0 heads.seeds=[42,43,44,45,46,47]"
P="['linear_best','linear_ks','linear_topk']"
PYBIN=${PY:-$PWD/.venv/bin/python}
ckpt() { echo "${DDPM_RUNS:-bench/runs/ddpm}/b64-s$1/ckpt-0003000.pt"; }
THROWAWAY=bench/runs/le-b64-baselines-d47/ddpm/ckpt-0000002.pt
case "${1:-} ${2:-}" in
  "ddpm "[0-9]*)
    mkdir -p "$(dirname "$L")"
    run_left "$L" env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH="${MEDFX_SRC:-$PWD}" nice -n 5 $PYBIN -P \
      -m medfx pretrain preset=cpu-64 data.path=.dev/brain64_dedup.npz data.max_per_split=null run.seed=$2 \
      run.name=b64-s$2 run.out_dir="${DDPM_RUNS:-bench/runs/ddpm}" run.threads=1 run.device=cpu train.steps=3000 \
      train.batch_size=32 train.sample_every=0 train.precision=auto ;;
  "probes "[0-9]*)
    wait_ckpt "$(ckpt $2)"
    le_step "$L" "brain DDPM seed $2, probes at $B, seeds 42-47" ddpm BUDGETS=$B EXTRA="$X" SUFFIX=-d47 NOLINK=1 \
      DDPM_SEEDS=$2 CKPT_S$2="$(ckpt $2)" METHODS="$P" ;;
  "cnns ")
    le_step "$L" "brain CNNs at $B, seeds 42-47" baselines BUDGETS=$B EXTRA="$X" SUFFIX=-d47 \
      METHODS="['resnet18','small_cnn']" ;;
  "control ")
    wait_ckpt "$THROWAWAY" 5
    le_step "$L" "brain random-init probes at $B, seeds 42-47" control BUDGETS=$B EXTRA="$X" SUFFIX=-d47 NOLINK=1 \
      METHODS="$P" CONTROL_CKPT=$THROWAWAY ;;
  "all ")
    (bash "$0" ddpm 9; bash "$0" probes 9; bash "$0" cnns) &
    (bash "$0" ddpm 10; bash "$0" probes 10; bash "$0" control) &
    wait
    mkdir -p bench/results
    (cd bench && PY="$PYBIN -P" bash b64_47_summary.sh > results/b64_47.txt) ;;
  *) echo "usage: STOP=<epoch s> $0 ddpm SEED | probes SEED | cnns | control | all" >&2; exit 2 ;;
esac
