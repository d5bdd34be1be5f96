#!/bin/bash
# Brain MRI 64^2, the twenty-third session's pre-registered CPU replication of the 5-label result (BENCHMARKS "Issue
# 13: twenty-third session"; runs of bench/b64_replication_cpu.sh): two NEW DDPMs (seeds 2, 3; 3000 steps, bf16
# autocast on the CPU), head seeds 0-5, the ResNet-18 and small CNN re-trained on the CPU at 5 labels. Writes
# results/label_efficiency_b64_rep23.json (+ a figure under $TMPDIR) and prints the primary test, then the
# secondary comparisons (kept in results/b64_rep23_paired.txt). TAG=rep24 names the outputs of the re-run with the
# addition's CPU CNN reference complete (twenty-fourth session): results/label_efficiency_b64_rep24.json,
# results/b64_rep24_paired.txt (redirect the output there).
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
R=runs
CNN=(); ADD=()   # the CPU CNN runs at 5 labels; the addition's (CNNs at 10-25, D-Cube's image CNN alone)
for m in resnet18 small_cnn; do [ -d $R/le-b64-baselines-rep23$m ] && CNN+=($R/le-b64-baselines-rep23$m); done
for m in cnn1025 dcube_cnn; do [ -d $R/le-b64-baselines-rep23$m ] && ADD+=($R/le-b64-baselines-rep23$m); done
source b64_h200_runs.sh   # the twenty-second session's run groups, head seeds 0-2:
H200=("${BASE[@]}")       # its CNN cells (H200)
OLD=("${D[@]}")           # its H200-trained DDPMs (four cheap methods, CPU)
NEW=($R/le-b64-s{2,3}-rep23)              # four cheap methods on the two new DDPMs, head seeds 0-5
DC=(); for s in 2 3; do [ -d $R/le-b64-s$s-rep23dc ] && DC+=($R/le-b64-s$s-rep23dc); done   # full D-Cube head, 5 labels
for d in "${NEW[@]}"; do [ -d $d ] || { echo "missing $d" >&2; exit 1; }; done
$PY label_efficiency_summary.py --runs "${CNN[@]}" "${ADD[@]}" "${NEW[@]}" "${DC[@]}" --budgets 5 10 25 \
  --title "brain MRI 4-class 64x64 (de-duplicated), complete split: replication on two new CPU DDPMs" \
  --ddpm "two new 3000-step bf16 DDPMs (seeds 2, 3) trained on the CPU; head seeds 0-5" \
  --out results/label_efficiency_b64_${TAG:-rep23}.json --png "${TMPDIR:-/tmp}/b64_${TAG:-rep23}.png"
# check: head seeds 0-2 drew the same subsets as the twenty-second session's runs (stops if not)
$PY -c 'import sys; from pathlib import Path; from label_efficiency_summary import check_subsets
check_subsets([Path(r) for r in sys.argv[1:]])' "${H200[@]}" "${OLD[@]}" "${NEW[@]}"
echo "subsets of head seeds 0-2 identical to the twenty-second session's (checked)"
P() { $PY paired_methods.py "$@"; }
echo "######## PRIMARY (pre-registered): best (block, t) probe vs ResNet-18 (CPU), 5 labels, head seeds 0-5"
P --budget 5 --runs "${NEW[@]}" --ref resnet18 --ref-runs "${CNN[@]}" --methods linear_best
echo "######## secondary, 5 labels: every method vs ResNet-18 and vs small CNN (CPU, seeds 0-5)"
for ref in resnet18 small_cnn; do
  echo "-- vs $ref"; P --budget 5 --runs "${NEW[@]}" "${DC[@]}" --ref $ref --ref-runs "${CNN[@]}" \
    --methods linear_best linear_ks cats dcube_feats dcube
done
echo "-- the exact repeat: head seeds 0-2 against the twenty-second session's H200 CNN cells"
for ref in resnet18 small_cnn; do
  echo "-- vs $ref (H200)"; P --budget 5 --seeds 0 1 2 --runs "${NEW[@]}" "${DC[@]}" --ref $ref --ref-runs "${H200[@]}" \
    --methods linear_best linear_ks cats dcube_feats dcube
done
echo "-- the same CNN on the CPU (this session) vs on the H200 (twenty-second session), head seeds 0-2"
for m in resnet18 small_cnn; do
  P --budget 5 --seeds 0 1 2 --runs "${CNN[@]}" --against-runs "${H200[@]}" --methods $m
done
echo "-- the new DDPMs vs the twenty-second session's (same methods, head seeds 0-2)"
for b in 5 10 25; do P --budget $b --seeds 0 1 2 --runs "${NEW[@]}" --against-runs "${OLD[@]}"; done
if [ ${#ADD[@]} -gt 0 ]; then
  echo "######## addition (declared 21:45 UTC): CPU CNN cells at 10-25 labels, D-Cube's image CNN alone at 5-25"
  for b in 10 25; do
    for ref in resnet18 small_cnn dcube_cnn; do
      echo "-- budget $b vs $ref"; P --budget $b --runs "${NEW[@]}" --ref $ref --ref-runs "${ADD[@]}" \
        --methods linear_best linear_ks cats dcube_feats
    done
  done
  echo "-- budget 5: full D-Cube head and D-Cube without its image CNN vs D-Cube's image CNN alone"
  P --budget 5 --runs "${NEW[@]}" "${DC[@]}" --ref dcube_cnn --ref-runs "${ADD[@]}" --methods dcube dcube_feats
  echo "-- budget 5: D-Cube's image CNN alone vs the CPU ResNet-18 and small CNN"
  for ref in resnet18 small_cnn; do
    P --budget 5 --runs "${ADD[@]}" --ref $ref --ref-runs "${CNN[@]}" --methods dcube_cnn
  done
fi
