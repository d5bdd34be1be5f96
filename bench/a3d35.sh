#!/bin/bash
# Issue 13, thirty-fifth session: does more diffusion pretraining help the few-label probes in 3D? The two 2000-step
# AdrenalMNIST3D DDPMs of bench/a3d27_ddpm.sh (a3d27-s{0,1}, retrained in the thirtieth session on this CPU type)
# continued to 4000 steps, then the linear probes on their features (BENCHMARKS "Issue 13: thirty-fifth session").
#   lane S (S = 0 or 1; run both side by side, one thread each):
#     1. copy DDPM_RUNS/a3d27-sS to DDPM_RUNS35/a3d27-sS (once) and resume the copy to train.steps=4000 with the
#        original command's settings (the constant learning rate after warm-up makes this a 4000-step run), a
#        checkpoint every 500 steps, all kept; the 2000-step originals stay untouched for the earlier sessions' runs;
#     2. linear_best, linear_topk and linear_ks on the step-4000 features, head seeds 0-5, 5-50 labels
#        (le-a3d-sS-d35k4, extracted afresh);
#     3. the same on the step-3000 features (le-a3d-sS-d35k3), a point between 2000 and 4000;
#     4. the CATS-like head on the step-4000 features, same seeds and budgets (le-a3d-sS-d35k4cats, hard links to
#        step 2's feature banks; the grid-pooled maps CATS reads are extracted in the run).
# fp32 / >= 200-step harness (heads.precision=fp32), one thread per job. Cells still running at STOP are killed and
# not reported.
#   MEDFX_SRC=/work/frozen35 STOP=<epoch s> bash bench/a3d35.sh lane0 & ... lane1 &
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, run_left, a3d27_ckpt
export DATASET=adrenal3d
LOG=${LOG:-/work/logs35}/a3d35_${1:-usage}.log   # LOG names the log directory
D35=${DDPM_RUNS35:-/work/ddpm_runs35}
SIX="heads.precision=fp32 heads.seeds=[0,1,2,3,4,5]" B4='[5,10,25,50]'
ck35() { printf '%s/a3d27-s%s/ckpt-%07d.pt' "$D35" "$1" "$2"; }   # ck35 SEED STEP
continue_ddpm() {  # continue_ddpm SEED: steps 2001-4000 of DDPM SEED, on a copy of the 2000-step run
  local s=$1 src
  src=$(dirname "$(a3d27_ckpt "$s")")
  mkdir -p "$D35" "$(dirname "$LOG")"
  [ -e "$D35/a3d27-s$s" ] || cp -a "$src" "$D35/a3d27-s$s"
  echo "start DDPM $s 2000 -> 4000: $(date -u +%H:%M:%S)" >> "$LOG"
  # the original command itself, with the copy's folder, the step count and every checkpoint kept
  run_left "$LOG" env DDPM_RUNS="$D35" STEPS=4000 KEEP=8 THREADS=1 bash bench/a3d27_ddpm.sh "$s"
  echo "end DDPM $s: $(date -u +%H:%M:%S)" >> "$LOG"
}
LIN="['linear_best','linear_topk','linear_ks']"
cats4() { probes "$1" 4000 -d35k4cats "['cats']" LINK_FROM=-d35k4; }   # cats4 SEED: step 4
probes() {  # probes SEED STEP SUFFIX METHODS [VAR=VALUE...]
  local s=$1 step=$2 sfx=$3 m=$4; shift 4
  le_step "$LOG" "DDPM $s step $step, $m at $B4" ddpm BUDGETS=$B4 EXTRA="$SIX" SUFFIX=$sfx DDPM_SEEDS=$s \
    CKPT_S$s="$(ck35 "$s" "$step")" METHODS="$m" "$@"
}
case "${1:-}" in
  lane0|lane1)
    s=${1#lane}
    continue_ddpm "$s"
    probes "$s" 4000 -d35k4 "$LIN" NOLINK=1
    probes "$s" 3000 -d35k3 "$LIN" NOLINK=1
    cats4 "$s" ;;
  cats0|cats1)  # step 4 alone (its first launch stopped at once: lib.sh's link_cached_run needed a features_grid
    cats4 "${1#cats}" ;;  # folder, which the probe-only step-4000 runs do not have; fixed in lib.sh)
  mid0|mid1)  # declared addition: the linear probes at steps 2500 and 3500 too (a 3D pretraining-compute curve)
    s=${1#mid}
    probes "$s" 2500 -d35k25 "$LIN" NOLINK=1
    probes "$s" 3500 -d35k35 "$LIN" NOLINK=1 ;;
  *) echo "usage: STOP=<epoch s> $0 lane0|lane1|cats0|cats1|mid0|mid1" >&2; exit 2 ;;
esac
