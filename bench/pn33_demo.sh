#!/bin/bash
# Issue 13, thirty-third session, second declared addition (descriptive): does heads.dcube_feature_norm=standard change
# D-Cube without its image CNN in 2D? On the features of README command (a)'s DDPM (PneumoniaMNIST 28^2, 300 steps on
# 2000 training images; its checkpoint copied to DDPM_RUNS/demo33/ckpt-0000300.pt), the label-budget harness
# (DATASET=pn: preset cpu-28, 1000-image training subsample) runs dcube_feats at 5-50 labels, head seeds 0-2, with
# D-Cube's defaults (le-pn-s0-d33demo, which extracts; also the best-cell probe) and z-scored, unmirrored (le-pn-s0-d33demostd, hard links).
#   MEDFX_SRC=/work/frozen33 STOP=<epoch s> bash bench/pn33_demo.sh run
#   bash bench/pn33_demo.sh summary > bench/results/pn33_demo_paired.txt
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step
export DATASET=pn
LOG=${LOG:-/work/logs33}/pn33_demo.log
CK=${DDPM_RUNS:-/work/ddpm_runs}/demo33/ckpt-0000300.pt
B='[5,10,25,50]' M="['dcube_feats']"
case "${1:-}" in
  run) le_step "$LOG" "demo DDPM, dcube_feats defaults (and the best-cell probe)" ddpm BUDGETS=$B EXTRA="heads.precision=fp32" \
         SUFFIX=-d33demo NOLINK=1 DDPM_SEEDS=0 CKPT_S0="$CK" METHODS="['linear_best','dcube_feats']"
       le_step "$LOG" "demo DDPM, dcube_feats std" ddpm BUDGETS=$B \
         EXTRA="heads.precision=fp32 heads.dcube_feature_norm=standard heads.dcube_weights=[1,10,0]" \
         SUFFIX=-d33demostd LINK_FROM=-d33demo DDPM_SEEDS=0 CKPT_S0="$CK" METHODS="$M" ;;
  summary) cd bench
       export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
       for b in 5 10 25 50; do
         echo "# budget $b: dcube_feats z-scored and unmirrored minus D-Cube's defaults (same 2D features, head seeds 0-2)"
         ${PY:-python -P} paired_methods.py --budget $b --runs runs/le-pn-s0-d33demostd --against-runs runs/le-pn-s0-d33demo --methods dcube_feats
         echo "# budget $b: each against the best-cell probe on the same features"
         # (the probe's cells are in le-pn-s0-d33demo, which --runs already reads for the first line)
         ${PY:-python -P} paired_methods.py --budget $b --runs runs/le-pn-s0-d33demo --ref linear_best --methods dcube_feats | sed "s/^/defaults /"
         ${PY:-python -P} paired_methods.py --budget $b --runs runs/le-pn-s0-d33demostd --ref linear_best --ref-runs runs/le-pn-s0-d33demo --methods dcube_feats | sed "s/^/std /"
       done ;;
  *) echo "usage: STOP=<epoch s> $0 run|summary" >&2; exit 2 ;;
esac
