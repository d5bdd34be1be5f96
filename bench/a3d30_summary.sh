#!/bin/bash
# AdrenalMNIST3D 28^3, thirtieth session (BENCHMARKS "Issue 13: thirtieth session"; runs of bench/a3d30.sh):
# the full D-Cube head and the four other feature methods on two 3D DDPMs retrained here (le-a3d-s{0,1}-d30few) at
# 5 and 10 labels per class, against the ResNet-18 3D, D-Cube's image CNN alone and the small CNN trained beside them.
#   bash bench/a3d30_summary.sh > bench/results/a3d30_paired.txt   (table results/label_efficiency_a3d30_few.json)
#   bash bench/a3d30_summary.sh b25 > bench/results/a3d30_b25_paired.txt   the declared addition at 25 labels: the full
#        D-Cube head (le-a3d-s{0,1}-d30b25) minus D-Cube's image CNN alone (le-a3d-baselines-d30b25cnn{0,1,2})
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
T=${TMPDIR:-/tmp}
if [ "${1:-}" = b25 ]; then
  FEAT=(runs/le-a3d-s{0,1}-d30b25); CNN=(runs/le-a3d-baselines-d30b25cnn{0,1,2})
  echo "# cell means at 25 labels per class: the full D-Cube head on two DDPMs, D-Cube's image CNN alone"
  $PY label_efficiency_summary.py --runs "${CNN[@]}" "${FEAT[@]}" --budgets 25 \
    --title "AdrenalMNIST3D 28^3, 25 labels per class (thirtieth session)" \
    --ddpm "2000-step DDPMs a3d27-s{0,1} retrained" --out results/label_efficiency_a3d30_b25.json --png $T/a3d30_b25.png
  echo "# budget 25: the full D-Cube head minus D-Cube's image CNN alone (the attribution ablation), two DDPMs pooled"
  $PY paired_methods.py --budget 25 --runs "${FEAT[@]}" --ref dcube_cnn --ref-runs "${CNN[@]}" --methods dcube
  for f in "${FEAT[@]}"; do
    echo "# budget 25: $f minus D-Cube's image CNN alone"
    $PY paired_methods.py --budget 25 --runs $f --ref dcube_cnn --ref-runs "${CNN[@]}" --methods dcube
  done
  exit 0
fi
FEAT=(runs/le-a3d-s{0,1}-d30few); RN=(runs/le-a3d-baselines-d30rn{0,1,2}); CNN=(runs/le-a3d-baselines-d30cnn{0,1,2})
echo "# cell means at 5 and 10 labels per class: two DDPMs, the ResNet-18 3D, D-Cube's image CNN, the small CNN"
$PY label_efficiency_summary.py --runs "${CNN[@]}" "${RN[@]}" "${FEAT[@]}" --budgets 5 10 \
  --title "AdrenalMNIST3D 28^3, fp32 harness, two 2000-step DDPMs, same-run CNNs (thirtieth session)" \
  --ddpm "2000-step DDPMs a3d27-s{0,1} retrained" --out results/label_efficiency_a3d30_few.json --png $T/a3d30_few.png
echo "# the cells against the twenty-eighth/twenty-ninth sessions' (Intel family 6 model 167; same code, seeds, subsets)"
for m in linear_best linear_ks cats dcube_feats small_cnn; do
  echo "## $m (twenty-eighth session)"
  $PY a3d28_check.py --method $m results/label_efficiency_a3d30_few.json results/label_efficiency_a3d28_few.json || true
done
echo "## resnet18 (twenty-ninth session)"
$PY a3d28_check.py --method resnet18 results/label_efficiency_a3d30_few.json results/label_efficiency_a3d29_few.json || true
for b in 5 10; do
  echo "# budget $b: two DDPMs pooled minus the ResNet-18 3D (PRIMARY: dcube)"
  $PY paired_methods.py --budget $b --runs "${FEAT[@]}" --ref resnet18 --ref-runs "${RN[@]}"
  echo "# budget $b: the full D-Cube head minus D-Cube's image CNN alone (the attribution ablation)"
  $PY paired_methods.py --budget $b --runs "${FEAT[@]}" --ref dcube_cnn --ref-runs "${CNN[@]}" --methods dcube
  echo "# budget $b: feature methods minus the small CNN"
  $PY paired_methods.py --budget $b --runs "${FEAT[@]}" --ref small_cnn --ref-runs "${CNN[@]}"
  echo "# budget $b: the CNNs minus the ResNet-18 3D"
  $PY paired_methods.py --budget $b --runs "${CNN[@]}" --ref resnet18 --ref-runs "${RN[@]}" --methods dcube_cnn small_cnn
  for f in "${FEAT[@]}"; do
    echo "# budget $b: $f minus the ResNet-18 3D"
    $PY paired_methods.py --budget $b --runs $f --ref resnet18 --ref-runs "${RN[@]}" --methods dcube linear_ks
  done
done
