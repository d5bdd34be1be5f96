#!/bin/bash
# Issue 13, forty-fourth session, prepared for the next one (BENCHMARKS "Issue 13: forty-fourth session"): brain MRI
# 64^2 at 5 labels per class, the late fusion on a SECOND pair of DDPMs (b64-s{6,7}, the b64 recipe of b64-s{4,5}:
# 3000 steps, batch 32, all de-duplicated training images without labels, precision auto, one thread each).
#   ddpm SEED    trains $DDPM_RUNS/b64-s<SEED> (default /work/ddpm_runs), the thirty-ninth session's command
#   probes SEED  once its 3000-step checkpoint exists: the probes on it at [5] for head seeds 24-29 (extracted afresh,
#                le-b64-s<SEED>-d44s24), then 0-5 and 12-17 (feature banks linked: -d44s0, -d44s12), the draw sets whose
#                CNN and random-init cells exist (thirty-ninth, forty-first, forty-second sessions)
#   MEDFX_SRC=/work/frozen39 bash bench/b64_44.sh ddpm 6 &   MEDFX_SRC=/work/frozen40 STOP=<epoch s> bash bench/b64_44.sh probes 6 &
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, wait_ckpt
export DATASET=brain64
LOG=${LOG:-/work/logs44}/b64_44_${1:-usage}${2:-}.log
BRAIN="heads.precision=fp32 data.path=.dev/brain64_dedup.npz data.max_per_split=null heads.ft_lr_scale=1.0"
P="['linear_best','linear_ks','linear_topk']"
R=${DDPM_RUNS:-/work/ddpm_runs}
case "${1:-} ${2:-}" in
  "ddpm "[0-9]*)
    mkdir -p "$(dirname "$LOG")"
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD} nice -n 5 ${PY:-$PWD/.venv/bin/python} -P -m medfx \
      pretrain preset=cpu-64 data.path=.dev/brain64_dedup.npz data.max_per_split=null run.seed=$2 run.name=b64-s$2 \
      run.out_dir="$R" run.threads=1 run.device=cpu train.steps=3000 train.batch_size=32 train.sample_every=0 \
      train.precision=auto >> "$LOG" 2>&1 ;;
  "probes "[0-9]*)
    s=$2 ck="$R/b64-s$2/ckpt-0003000.pt"
    wait_ckpt "$ck"
    le_step "$LOG" "brain DDPM seed $s, probes, seeds 24-29" ddpm BUDGETS=[5] EXTRA="$BRAIN heads.seeds=[24,25,26,27,28,29]" \
      SUFFIX=-d44s24 NOLINK=1 DDPM_SEEDS=$s CKPT_S$s="$ck" METHODS="$P"
    for h in 0 12; do
      le_step "$LOG" "brain DDPM seed $s, probes, seeds $h-$((h + 5))" ddpm BUDGETS=[5] \
        EXTRA="$BRAIN heads.seeds=[$h,$((h + 1)),$((h + 2)),$((h + 3)),$((h + 4)),$((h + 5))]" SUFFIX=-d44s$h \
        LINK_FROM=-d44s24 DDPM_SEEDS=$s CKPT_S$s="$ck" METHODS="$P"
    done ;;
  *) echo "usage: $0 ddpm SEED | probes SEED" >&2; exit 2 ;;
esac
