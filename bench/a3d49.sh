#!/bin/bash
# Issue 13, forty-ninth session (BENCHMARKS "Issue 13: forty-ninth session"): two fresh 2000-step AdrenalMNIST3D
# DDPMs a3d27-s{7,8} (bench/a3d27_ddpm.sh, started by hand), then per DDPM, once its last checkpoint exists:
#   probes SEED   the probes (linear_best, linear_topk) at 5 and 10 labels per class, head seeds 0-5
#                 (le-a3d-s<SEED>-d49, extracted afresh)
#   pilot SEED    bench/pilot49_aug.py on that run: the top-5 probe ensemble refitted with augmented copies of the
#                 labelled volumes, scored on the hidden labels of the other training-subsample volumes
#                 (bench/results/pilot49_a3d_s<SEED>.tsv); no validation or test label is read
#   MEDFX_SRC=/work/frozen48 STOP=<epoch s> bash bench/a3d49.sh probes 7 && bash bench/a3d49.sh pilot 7 &
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, run_left, a3d27_wait_ckpt
usage() { echo "usage: STOP=<epoch s> $0 probes SEED | pilot SEED" >&2; exit 2; }
[ $# -eq 2 ] || usage
LOG=${LOG:-/work/logs49}/a3d49_${1:-usage}${2:-}.log
export DATASET=adrenal3d
case "${1:-}" in
  probes)
    ck=$(a3d27_wait_ckpt "$2")
    le_step "$LOG" "3D DDPM seed $2, probes, head seeds 0-5" ddpm BUDGETS=[5,10] \
      EXTRA="heads.precision=fp32 heads.seeds=[0,1,2,3,4,5]" SUFFIX=-d49 NOLINK=1 \
      DDPM_SEEDS="$2" CKPT_S$2="$ck" METHODS="['linear_best','linear_topk']" ;;
  pilot)
    mkdir -p "$(dirname "$LOG")" bench/results
    echo "start pilot a3d27-s$2: $(date -u +%H:%M:%S)" >> "$LOG"
    run_left "$LOG" env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=.:bench ${PY:-$PWD/.venv/bin/python} -P \
      bench/pilot49_aug.py bench/runs/le-a3d-s$2-d49 5,10 0,1,2,3,4,5 bench/results/pilot49_a3d_s$2.tsv
    echo "end pilot a3d27-s$2: $(date -u +%H:%M:%S)" >> "$LOG" ;;
  *) usage ;;
esac
