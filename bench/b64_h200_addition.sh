#!/bin/bash
# Additions to bench/b64_h200_summary.sh declared after its 19:10 UTC cut (BENCHMARKS "Issue 13: twenty-second
# session"): the small CNN at `all` for head seeds 1-2 (CPU: le-b64-baselines-cpuallsmall{1,2}) next to the H200's
# seed-0 cell, and the resumed CPU random-init control (le-b64-random-cpu) at 25 and 50 labels. Output kept in
# results/b64_h200_addition.txt.
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
R=runs
SMALL=($R/le-b64-baselines-h200s0 $R/le-b64-baselines-cpuallsmall{1,2})  # small CNN at `all`, head seeds 0, 1, 2
source b64_h200_runs.sh   # D, DC, CTLC (as in b64_h200_summary.sh)
P() { $PY paired_methods.py "$@"; }
echo "######## small CNN at all: 3 cells (H200 seed 0; CPU seeds 1, 2)"
$PY label_efficiency_summary.py --runs "${SMALL[@]}" --budgets all --title "small CNN at all" \
  --out "${TMPDIR:-/tmp}/b64_small_all.json" --png "${TMPDIR:-/tmp}/b64_small_all.png" | grep "^| small CNN"
echo "-- diffusion methods vs small CNN"
P --budget all --runs "${D[@]}" --ref small_cnn --ref-runs "${SMALL[@]}" --methods linear_best linear_ks cats dcube_feats
echo "-- small CNN vs ResNet-18 (seed 0's ResNet-18 is read from the first SMALL run)"
P --budget all --runs "${SMALL[@]}" --ref resnet18 --ref-runs $R/le-b64-baselines-h200s{1,2} --methods small_cnn
echo "######## the resumed CPU random-init control at 25 and 50"
$PY label_efficiency_summary.py --runs "${D[@]}" "${DC[@]}" --control $CTLC --budgets 25 50 --title "control" \
  --out "${TMPDIR:-/tmp}/b64_ctl_add.json" --png "${TMPDIR:-/tmp}/b64_ctl_add.png" | grep "random-init"
for b in 25 50; do
  P --budget $b --runs "${D[@]}" "${DC[@]}" --against-runs $CTLC --methods cats dcube_feats dcube
done
