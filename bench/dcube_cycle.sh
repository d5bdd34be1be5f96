#!/usr/bin/env bash
# Issue 4: D-Cube with and without its cycle term (2026-11-22). Both variants train on the frozen class-conditional
# contrastive DDPM of the issue-5 benchmarks (bench/runs/cond-pn-con, 300 steps), with the features, probe grid,
# Gaussianity selection, splits and 1500-image subsample of bench/runs/rebalance-pn (hard links, reused as is).
#   bash bench/dcube_cycle.sh cycle|nocycle
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
OUT=bench/runs
v=$1; src=$OUT/rebalance-pn; dst=$OUT/dcube-$v-pn
case $v in cycle) w="[1.0,10.0,0.1]" ;; nocycle) w="[1.0,0.0,0.1]" ;; *) echo "cycle or nocycle" >&2; exit 2 ;; esac
link_cached_run "$src" "$dst"
medfx train-head "$src/config.yaml" run.name=dcube-$v-pn "heads.methods=[linear_best,dcube]" \
  heads.synthetic_balance=null heads.epochs=8 heads.patience=4 "heads.dcube_weights=$w"
