#!/bin/bash
# Issue 13, forty-sixth session (BENCHMARKS "Issue 13: forty-sixth session"; pre-registered): the PneumoniaMNIST
# 5-label late-fusion result reproduced FROM SCRATCH on a new CPU type (nothing linked from earlier runs): two new
# DDPMs, a new set of six labelled draws (head seeds 42-47), the CNNs and the random-init U-Net, all trained here.
#   ddpm SEED     a 3000-step DDPM pn46-s<SEED> in $DDPM_RUNS (default bench/runs/ddpm; this session's ran with
#                 DDPM_RUNS=/work/ddpm_runs LOG=/work/logs46): the cpu-28 recipe of pn36-s5..s8
#                 (all 4708 training images without labels, batch 64, constant lr 1e-3, precision auto)
#   probes SEED   waits for that DDPM's last checkpoint, then the probes on it at 5 and 10 labels (le-pn-s<SEED>-d46)
#   cnns          ResNet-18 and small CNN at 5 and 10 labels (le-pn-baselines-d46; its 2-step throwaway DDPM is the
#                 random-init U-Net)
#   control       waits for that throwaway checkpoint, then the probes on the random-init U-Net (le-pn-random-d46)
#   all           everything above in two lanes of one thread each (ddpm 9, probes 9, cnns | ddpm 10, probes 10,
#                 control), then bench/pn46_summary.sh > bench/results/pn46.txt; 41 min on 2 cores (AMD EPYC, bf16)
# fp32 / >= 200-step harness (heads.precision=fp32), one thread per job. Example: STOP=$(date -d '+3 hours' +%s)
# bash bench/pn46.sh all   (STOP: epoch seconds after which no step starts and a running one is killed)
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, run_left, wait_ckpt
export DATASET=pn
L=${LOG:-bench/runs/logs}/pn46_${1:-usage}${2:-}.log   # LOG: the log folder
S="[42,43,44,45,46,47]"
B=${PN46_BUDGETS:-[5,10]}   # the budgets of probes, cnns and control (the forty-sixth session's 25-label addition: [5,10,25])
X="heads.precision=fp32"
P="['linear_best','linear_ks','linear_topk']"
PYBIN=${PY:-$PWD/.venv/bin/python}
ckpt() { echo "${DDPM_RUNS:-bench/runs/ddpm}/pn46-s$1/ckpt-0003000.pt"; }
THROWAWAY=bench/runs/le-pn-baselines-d46/ddpm/ckpt-0000002.pt
case "${1:-} ${2:-}" in
  "ddpm "[0-9]*)
    mkdir -p "$(dirname "$L")"
    run_left "$L" env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH="${MEDFX_SRC:-$PWD}" nice -n 5 $PYBIN -P \
      -m medfx pretrain preset=cpu-28 run.out_dir="${DDPM_RUNS:-bench/runs/ddpm}" run.name=pn46-s$2 run.seed=$2 \
      train.steps=3000 train.ckpt_every=500 train.keep_ckpts=6 train.sample_every=0 run.threads=1 ;;
  "probes "[0-9]*)
    wait_ckpt "$(ckpt $2)"
    le_step "$L" "pn DDPM seed $2, probes at $B, seeds 42-47" ddpm BUDGETS=$B EXTRA="$X heads.seeds=$S" \
      SUFFIX=-d46 NOLINK=1 DDPM_SEEDS=$2 CKPT_S$2="$(ckpt $2)" METHODS="$P" ;;
  "cnns ")
    le_step "$L" "pn CNNs at $B, seeds 42-47" baselines BUDGETS=$B EXTRA="$X heads.seeds=$S" \
      SUFFIX=-d46 METHODS="['resnet18','small_cnn']" ;;
  "control ")
    wait_ckpt "$THROWAWAY" 5
    le_step "$L" "pn random-init probes at $B, seeds 42-47" control BUDGETS=$B EXTRA="$X heads.seeds=$S" \
      SUFFIX=-d46 NOLINK=1 METHODS="$P" CONTROL_CKPT=$THROWAWAY ;;
  "all ")
    (bash "$0" ddpm 9; bash "$0" probes 9; bash "$0" cnns) &
    (bash "$0" ddpm 10; bash "$0" probes 10; bash "$0" control) &
    wait
    mkdir -p bench/results
    (cd bench && PY="$PYBIN -P" bash pn46_summary.sh > results/pn46.txt) ;;
  *) echo "usage: STOP=<epoch s> $0 ddpm SEED | probes SEED | cnns | control | all" >&2; exit 2 ;;
esac
