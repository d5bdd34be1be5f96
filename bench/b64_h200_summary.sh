#!/bin/bash
# Brain MRI 64^2 (de-duplicated split) learning curves over the complete training split (BENCHMARKS "Issue 13:
# twenty-second session"): the CNN cells and the random-init control from the H200 call of bench/gpu_b64_full.sh
# (le-b64-baselines-h200s{0,1,2}, le-b64-random-h200s{0,1,2}; one run per head seed) and the diffusion-feature cells
# computed on the CPU from the two H200-trained DDPMs' step-3000 EMA weights (le-b64-s{0,1}-cpud3000, and the full
# D-Cube head's le-b64-s{0,1}-cpud3000dc where they exist). Same splits, subsets and head seeds 0-2.
# Writes results/label_efficiency_b64_h200.json, docs/img/label_efficiency_brain64_h200.png and prints every
# pre-registered comparison (kept in results/b64_h200_paired.txt).
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
R=runs
source b64_h200_runs.sh                   # BASE, CTL, CTLC, D, DC
for d in "${BASE[@]}" "${CTL[@]}" "${D[@]}" $CTLC; do [ -d $d ] || { echo "missing $d" >&2; exit 1; }; done
$PY label_efficiency_summary.py --runs "${BASE[@]}" "${D[@]}" "${DC[@]}" --control "${CTL[@]}" \
  --title "brain MRI 4-class 64x64 (de-duplicated), complete training split" \
  --ddpm "two 3000-step fp32 DDPMs trained on an H200; CNNs on the H200, diffusion heads on the CPU" \
  --out results/label_efficiency_b64_h200.json --png ../docs/img/label_efficiency_brain64_h200.png
# the CPU control's head cells on their own (the H200 control's few head cells are not pooled with them)
$PY label_efficiency_summary.py --runs "${BASE[@]}" "${D[@]}" "${DC[@]}" --control $CTLC --budgets 5 10 25 \
  --title "brain MRI 64x64, complete split: random-init control heads (CPU)" \
  --out results/label_efficiency_b64_h200_ctlcpu.json --png "${TMPDIR:-/tmp}/b64_ctlcpu.png" | grep "random-init"
P() { $PY paired_methods.py "$@"; }
echo "######## PRIMARY (pre-registered): KS-keys probe vs ResNet-18 at 50 and all"
for b in 50 all; do P --budget $b --runs "${D[@]}" --ref resnet18 --ref-runs "${BASE[@]}" --methods linear_ks; done
for b in 5 10 25 50 all; do
  echo "######## budget $b"
  for ref in resnet18 small_cnn dcube_cnn; do
    echo "-- vs $ref"; P --budget $b --runs "${D[@]}" "${DC[@]}" --ref $ref --ref-runs "${BASE[@]}" \
      --methods linear_best linear_ks cats dcube_feats dcube
  done
  echo "-- trained DDPMs vs the random-init U-Net: linear probes (H200 control), heads (CPU control, 5-25)"
  P --budget $b --runs "${D[@]}" --against-runs "${CTL[@]}" --methods linear_best linear_ks
  [ $b != 50 ] && [ $b != all ] && P --budget $b --runs "${D[@]}" "${DC[@]}" --against-runs $CTLC \
    --methods cats dcube_feats dcube
  [ ${#DC[@]} -gt 0 ] && { echo "-- full D-Cube head vs D-Cube without its image CNN (same DDPMs)"
    P --budget $b --runs "${DC[@]}" --ref dcube_feats --ref-runs "${D[@]}" --methods dcube; }
  echo "-- CNNs vs resnet18"; P --budget $b --runs "${BASE[@]}" --ref resnet18 --methods small_cnn dcube_cnn
done
