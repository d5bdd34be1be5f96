#!/bin/bash
# PneumoniaMNIST 28^2, thirty-seventh session (BENCHMARKS "Issue 13: thirty-seventh session", "Plan: a 4x larger
# DDPM"; runs of bench/pn37.sh): the wide DDPMs (seeds 7, 8; 2000 steps) against the CNNs of le-pn-baselines-d34
# (head seeds 0-5) and -d36s611 (6-11), the wide U-Net at random init, and the small 3000-step DDPMs of the
# thirty-sixth session. Paired bootstrap over the 624 test images, cell-averaged probabilities (bench/paired_methods.py).
#   bash bench/pn37_summary.sh > bench/results/pn37_paired.txt     table results/label_efficiency_pn37.json
#   bash bench/pn37_summary.sh w30 > bench/results/pn37_w30.txt     declared addition (bench/pn37b.sh): 3000 steps
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
T=${TMPDIR:-/tmp}
W=(runs/le-pn-s{7,8}-d37w runs/le-pn-s{7,8}-d37ws611)                    # wide DDPMs, head seeds 0-5 and 6-11
CNN=(runs/le-pn-baselines-d34 runs/le-pn-baselines-d36s611)              # ResNet-18, small CNN
S=(runs/le-pn-s{5,6}-d36 runs/le-pn-s{5,6}-d36s611)                      # the small 3000-step DDPMs
WR=(runs/le-pn-random-d37w runs/le-pn-random-d37ws611)                   # the wide U-Net at random init
if [ "${1:-}" = w30 ]; then  # the declared addition: the wide DDPMs continued to 3000 steps
  W30=(runs/le-pn-s{7,8}-d37w30 runs/le-pn-s{7,8}-d37w30s611)
  echo "# check: the subsets of every run equal those of the CNN run of the same head seeds"
  $PY same_subsets.py ${CNN[0]} runs/le-pn-s{7,8}-d37w30
  $PY same_subsets.py ${CNN[1]} runs/le-pn-s{7,8}-d37w30s611
  for b in 5 10 25; do
    echo "# budget $b: wide at 3000 steps minus small at 3000 steps (equal steps), linear_ks then linear_topk, linear_best"
    $PY paired_methods.py --budget $b --runs "${W30[@]}" --against-runs "${S[@]}" --methods linear_ks linear_topk linear_best
    echo "# budget $b: wide at 3000 minus 2000 steps"
    $PY paired_methods.py --budget $b --runs "${W30[@]}" --against-runs "${W[@]}" --methods linear_ks linear_topk linear_best
    echo "# budget $b: linear_ks wide at 3000 steps minus the ResNet-18; minus the wide U-Net at random init"
    $PY paired_methods.py --budget $b --runs "${W30[@]}" --ref resnet18 --ref-runs "${CNN[@]}" --methods linear_ks
    $PY paired_methods.py --budget $b --runs "${W30[@]}" --against-runs "${WR[@]}" --methods linear_ks
  done
  echo "# budget 50 (head seeds 0-5): wide at 3000 steps minus small at 3000 steps; minus the ResNet-18"
  $PY paired_methods.py --budget 50 --runs runs/le-pn-s{7,8}-d37w30 --against-runs runs/le-pn-s{5,6}-d36 \
    --methods linear_ks linear_topk linear_best
  $PY paired_methods.py --budget 50 --runs runs/le-pn-s{7,8}-d37w30 --ref resnet18 --ref-runs ${CNN[0]} --methods linear_ks
  exit 0
fi
echo "# check: the subsets of every run equal those of the CNN run of the same head seeds"
$PY same_subsets.py ${CNN[0]} runs/le-pn-s{7,8}-d37w ${WR[0]}
$PY same_subsets.py ${CNN[1]} runs/le-pn-s{7,8}-d37ws611 ${WR[1]}
for b in 5 10 25; do
  echo "# budget $b: (primary) linear_ks on the wide DDPMs minus the ResNet-18, head seeds 0-11"
  $PY paired_methods.py --budget $b --runs "${W[@]}" --ref resnet18 --ref-runs "${CNN[@]}" --methods linear_ks
  echo "# budget $b: (primary) linear_ks on the wide DDPMs minus on the wide U-Net at random init"
  $PY paired_methods.py --budget $b --runs "${W[@]}" --against-runs "${WR[@]}" --methods linear_ks
  echo "# budget $b: (primary, attribution of the width) linear_ks on the wide DDPMs minus on the small 3000-step DDPMs"
  $PY paired_methods.py --budget $b --runs "${W[@]}" --against-runs "${S[@]}" --methods linear_ks
  echo "# budget $b: (secondary) minus the small CNN; linear_topk, linear_best minus the ResNet-18, the small CNN, the small DDPMs"
  $PY paired_methods.py --budget $b --runs "${W[@]}" --ref small_cnn --ref-runs "${CNN[@]}" --methods linear_ks
  $PY paired_methods.py --budget $b --runs "${W[@]}" --ref resnet18 --ref-runs "${CNN[@]}" --methods linear_topk linear_best
  $PY paired_methods.py --budget $b --runs "${W[@]}" --ref small_cnn --ref-runs "${CNN[@]}" --methods linear_topk linear_best
  $PY paired_methods.py --budget $b --runs "${W[@]}" --against-runs "${S[@]}" --methods linear_topk linear_best
done
echo "# budget 50 (secondary, head seeds 0-5): the three probes minus the ResNet-18, the small CNN; linear_ks minus the small DDPMs"
$PY paired_methods.py --budget 50 --runs runs/le-pn-s{7,8}-d37w --ref resnet18 --ref-runs ${CNN[0]} \
  --methods linear_ks linear_topk linear_best
$PY paired_methods.py --budget 50 --runs runs/le-pn-s{7,8}-d37w --ref small_cnn --ref-runs ${CNN[0]} \
  --methods linear_ks linear_topk linear_best
$PY paired_methods.py --budget 50 --runs runs/le-pn-s{7,8}-d37w --against-runs runs/le-pn-s{5,6}-d36 --methods linear_ks
echo "# cell means, head seeds 0-5 (5-50 labels; table results/label_efficiency_pn37.json)"
$PY label_efficiency_summary.py --runs runs/le-pn-s{7,8}-d37w ${CNN[0]} --control ${WR[0]} --budgets 5 10 25 50 \
  --title "PneumoniaMNIST 28^2, two wide 2000-step DDPMs (4.44M parameters), head seeds 0-5 (thirty-seventh session)" \
  --ddpm "pn37w-s{7,8}, 2000 steps; control: the wide U-Net after 2 steps" \
  --out results/label_efficiency_pn37.json --png $T/pn37.png
