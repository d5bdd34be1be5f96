#!/bin/bash
# Issue 13, forty-eighth session (BENCHMARKS "Issue 13: forty-eighth session"; pre-registered): the two-DDPM late
# fusion `fuse_ens` (both DDPMs' top-5 probe ensembles + the small CNN, 1/3 each) at 5 labels per class on TWO NEW draw
# sets, head seeds 48-53 (D5) and 54-59 (D6), never drawn on either dataset, on the DDPM pairs of the from-scratch
# tests: PneumoniaMNIST pn46-s{9,10} (bench/pn46.sh) and brain MRI b64-s{9,10} (bench/b64_47.sh). Feature banks are
# linked from those runs (-d46 / -d47); the ResNet-18 and small CNN are trained here for the new seeds, and the probes
# on two random-init U-Nets: the earlier runs' throwaway U-Net (run.seed 0, features linked) and this session's CNN
# run's throwaway (run.seed 1, extracted here).
#   probes DS SEED   the probes on DDPM SEED (DS: pn | b64) at 5 labels, head seeds 48-59 (le-DS-sSEED-d48)
#   cnns DS          ResNet-18 and small CNN (le-DS-baselines-d48, run.seed=1: its 2-step throwaway DDPM is the second
#                    random-init U-Net)
#   control DS       the probes on the first random-init U-Net (le-DS-random-d48, features linked)
#   control1 DS      waits for the cnns run's throwaway, then the probes on it (le-DS-random-d48r1, extracted here)
#   all              two lanes of one thread each (cnns b64, control1 pn | probes b64 9, probes b64 10, control b64,
#                    cnns pn, probes pn 9, probes pn 10, control pn, control1 b64), then
#                    bench/ens48_summary.sh > bench/results/ens48.txt
# Data: the de-duplicated brain split of bench/b64_47.sh (.dev/brain64_dedup.npz). DDPMs in $DDPM_RUNS
# (default bench/runs/ddpm, as in bench/pn46.sh and bench/b64_47.sh; this session ran with
# DDPM_RUNS=/work/ddpm_runs). fp32 / >= 200-step harness, one thread per job. Example:
#   STOP=$(date -d '+90 min' +%s) bash bench/ens48.sh all   (STOP: epoch seconds after which no step starts)
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, wait_ckpt
L=${LOG:-bench/runs/logs}/ens48_${1:-usage}${2:-}${3:-}.log   # LOG: the log folder
S="[48,49,50,51,52,53,54,55,56,57,58,59]"
B=[5]
P="['linear_best','linear_ks','linear_topk']"
PYBIN=${PY:-$PWD/.venv/bin/python}
ds() {  # ds DS: the harness's DATASET, the earlier runs' suffix and the data settings of DS
  case "$1" in
    pn)  DSET=pn; OLD=-d46; X="heads.precision=fp32" ;;
    b64) DSET=brain64; OLD=-d47
         X="heads.precision=fp32 data.path=.dev/brain64_dedup.npz data.max_per_split=null heads.ft_lr_scale=1.0" ;;
    *) echo "dataset must be pn or b64" >&2; exit 2 ;;
  esac
}
ckpt() { echo "${DDPM_RUNS:-bench/runs/ddpm}/$([ "$1" = pn ] && echo pn46 || echo b64)-s$2/ckpt-0003000.pt"; }
old_throwaway() { echo "bench/runs/le-$1-baselines$OLD/ddpm/ckpt-0000002.pt"; }
new_throwaway() { echo "bench/runs/le-$1-baselines-d48/ddpm/ckpt-0000002.pt"; }
case "${1:-} ${2:-} ${3:-}" in
  "probes "[a-z0-9]*" "[0-9]*)
    ds "$2"
    le_step "$L" "$2 DDPM seed $3, probes at $B, seeds 48-59" ddpm DATASET=$DSET BUDGETS=$B EXTRA="$X heads.seeds=$S" \
      SUFFIX=-d48 LINK_FROM=$OLD DDPM_SEEDS=$3 CKPT_S$3="$(ckpt "$2" "$3")" METHODS="$P" ;;
  "cnns "[a-z0-9]*" ")
    ds "$2"
    le_step "$L" "$2 CNNs at $B, seeds 48-59" baselines DATASET=$DSET BUDGETS=$B EXTRA="$X heads.seeds=$S run.seed=1" \
      SUFFIX=-d48 METHODS="['resnet18','small_cnn']" ;;
  "control "[a-z0-9]*" ")
    ds "$2"
    le_step "$L" "$2 random-init (run.seed 0) probes at $B, seeds 48-59" control DATASET=$DSET BUDGETS=$B \
      EXTRA="$X heads.seeds=$S" SUFFIX=-d48 LINK_FROM=$OLD METHODS="$P" CONTROL_CKPT="$(old_throwaway "$2")" ;;
  "control1 "[a-z0-9]*" ")
    ds "$2"
    wait_ckpt "$(new_throwaway "$2")" 5
    le_step "$L" "$2 random-init (run.seed 1) probes at $B, seeds 48-59" control DATASET=$DSET BUDGETS=$B \
      EXTRA="$X heads.seeds=$S" SUFFIX=-d48r1 NOLINK=1 METHODS="$P" CONTROL_CKPT="$(new_throwaway "$2")" ;;
  "all  ")
    (bash "$0" cnns b64; bash "$0" control1 pn) &
    (bash "$0" probes b64 9; bash "$0" probes b64 10; bash "$0" control b64; bash "$0" cnns pn
     bash "$0" probes pn 9; bash "$0" probes pn 10; bash "$0" control pn; bash "$0" control1 b64) &
    wait
    mkdir -p bench/results
    (cd bench && PY="$PYBIN -P" bash ens48_summary.sh > results/ens48.txt) ;;
  *) echo "usage: STOP=<epoch s> $0 probes pn|b64 SEED | cnns pn|b64 | control pn|b64 | control1 pn|b64 | all" >&2
     exit 2 ;;
esac
