#!/bin/bash
# Brain MRI 64^2 over the complete training split, budget `all` (BENCHMARKS "Issue 13: twenty-fifth session"): the
# full D-Cube head (le-b64-s{0,1}-cpualldc{,2}) and D-Cube's image CNN alone (le-b64-baselines-cpualldcnn{,2}),
# trained on the CPU by bench/b64_all_dcube_cpu.sh and its addition, next to the twenty-second session's cells
# (bench/b64_h200_runs.sh) and its after-the-cut small CNN cells at `all` (le-b64-baselines-cpuallsmall{1,2}).
# Writes results/label_efficiency_b64_all25.json, docs/img/label_efficiency_brain64_h200_all.png and prints the
# pre-registered comparisons (kept in results/b64_all25_paired.txt).
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
R=runs
source b64_h200_runs.sh                   # BASE, CTL, CTLC, D, DC
ALLDC=(); for d in $R/le-b64-s{0,1}-cpualldc{,2}; do [ -d $d ] && ALLDC+=($d); done
ALLCNN=(); for d in $R/le-b64-baselines-cpualldcnn{,2}; do [ -d $d ] && ALLCNN+=($d); done
SMALL=($R/le-b64-baselines-cpuallsmall{1,2})
$PY label_efficiency_summary.py --runs "${BASE[@]}" "${SMALL[@]}" "${D[@]}" "${DC[@]}" "${ALLDC[@]}" "${ALLCNN[@]}" \
  --control "${CTL[@]}" --title "brain MRI 4-class 64x64 (de-duplicated), complete training split" \
  --ddpm "two 3000-step DDPMs (H200); heads CPU, CNNs H200 + CPU" \
  --out results/label_efficiency_b64_all25.json --png ../docs/img/label_efficiency_brain64_h200_all.png
P() { $PY paired_methods.py --budget all "$@"; }
echo "######## PRIMARY (pre-registered): full D-Cube head minus its image CNN alone at all"
P --runs "${ALLDC[@]}" --ref dcube_cnn --ref-runs "${ALLCNN[@]}" --methods dcube
echo "######## secondary"
echo "-- vs the ResNet-18 (H200 cells, head seeds 0-2)"
P --runs "${ALLDC[@]}" "${ALLCNN[@]}" --ref resnet18 --ref-runs "${BASE[@]}" --methods dcube dcube_cnn
echo "-- vs the small CNN (H200 seed 0, CPU seeds 1-2)"
P --runs "${ALLDC[@]}" "${ALLCNN[@]}" --ref small_cnn --ref-runs "${BASE[@]}" "${SMALL[@]}" --methods dcube dcube_cnn
echo "-- full D-Cube head vs D-Cube without its image CNN (same DDPMs)"
P --runs "${ALLDC[@]}" --ref dcube_feats --ref-runs "${D[@]}" --methods dcube
echo "-- the other diffusion methods vs the image CNN alone"
P --runs "${D[@]}" --ref dcube_cnn --ref-runs "${ALLCNN[@]}" --methods linear_best linear_ks cats dcube_feats
echo "-- per DDPM: full head on DDPM seed s minus the image CNN alone"
for s in 0 1; do
  DS=(); for d in $R/le-b64-s$s-cpualldc{,2}; do [ -d $d ] && DS+=($d); done
  [ ${#DS[@]} -gt 0 ] && { echo "DDPM seed $s"; P --runs "${DS[@]}" --ref dcube_cnn --ref-runs "${ALLCNN[@]}" --methods dcube; }
done
CTLA=(); for d in $R/le-b64-random-cpualldc{,b}; do [ -d $d ] && CTLA+=($d); done
if [ ${#CTLA[@]} -gt 0 ]; then
  echo "-- the full D-Cube head: trained DDPMs minus the random-init U-Net (second addition)"
  P --runs "${ALLDC[@]}" --against-runs "${CTLA[@]}" --methods dcube
  echo "-- the full D-Cube head on the random-init U-Net minus its image CNN alone"
  P --runs "${CTLA[@]}" --ref dcube_cnn --ref-runs "${ALLCNN[@]}" --methods dcube
fi
