#!/bin/bash
# AdrenalMNIST3D 28^3, thirty-sixth session's fourth plan (BENCHMARKS "Issue 13: thirty-sixth session"; runs of
# bench/a3d36.sh): head seeds 6-11 at 5 and 10 labels per class. Paired bootstrap over the 298 test volumes,
# cell-averaged probabilities (bench/paired_methods.py). Only the ResNet-18 3D runs that finished are read.
#   bash bench/a3d36_summary.sh > bench/results/a3d36_paired.txt     table results/label_efficiency_a3d36.json
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
T=${TMPDIR:-/tmp}
N=(runs/le-a3d-s{0,1}-d36s611) NR=(runs/le-a3d-random-d36r{0,1}s611) SMALL=runs/le-a3d-baselines-d36small
RN=(); for s in 6 7 8 9 10 11; do [ -e runs/le-a3d-baselines-d36rn$s/done.json ] && RN+=(runs/le-a3d-baselines-d36rn$s); done
echo "# ResNet-18 3D runs that finished: ${RN[*]}"
echo "# check: the subsets of every run equal those of the small-CNN run (head seeds 6-11)"
$PY same_subsets.py $SMALL "${N[@]}" "${NR[@]}" "${RN[@]}"
# head seeds 0-5 (thirty-fourth session): linear_best + linear_topk, the ResNet-18 3D, the small CNN
TK=(runs/le-a3d-s{0,1}-d34topk)
RN05=(runs/le-a3d-baselines-d30rn{0,1,2} runs/le-a3d-baselines-d34rn{3,4,5})
SM05=(runs/le-a3d-baselines-d30cnn{0,1,2} runs/le-a3d-baselines-d34small345)
for b in 5 10; do
  echo "# budget $b: (primary) linear_topk minus the ResNet-18 3D, head seeds 6-11; then minus linear_topk on the random inits"
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref resnet18 --ref-runs "${RN[@]}" --methods linear_topk
  $PY paired_methods.py --budget $b --runs "${N[@]}" --against-runs "${NR[@]}" --methods linear_topk
  echo "# budget $b: (secondary) minus the small CNN; linear_best, linear_ks minus the ResNet-18 3D, the small CNN"
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref small_cnn --ref-runs $SMALL --methods linear_topk
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref resnet18 --ref-runs "${RN[@]}" --methods linear_best linear_ks
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref small_cnn --ref-runs $SMALL --methods linear_best linear_ks
  echo "# budget $b: (secondary) head seeds 0-11 pooled: linear_topk, linear_best minus the ResNet-18 3D, then the small CNN"
  $PY paired_methods.py --budget $b --runs "${TK[@]}" "${N[@]}" --ref resnet18 --ref-runs "${RN05[@]}" "${RN[@]}" \
    --methods linear_topk linear_best
  $PY paired_methods.py --budget $b --runs "${TK[@]}" "${N[@]}" --ref small_cnn --ref-runs "${SM05[@]}" $SMALL \
    --methods linear_topk linear_best
done
echo "# cell means, head seeds 6-11 (table results/label_efficiency_a3d36.json)"
$PY label_efficiency_summary.py --runs "${N[@]}" "${RN[@]}" $SMALL --control "${NR[@]}" --budgets 5 10 \
  --title "AdrenalMNIST3D 28^3, head seeds 6-11 (thirty-sixth session)" \
  --ddpm "a3d27-s{0,1}, 2000 steps; control: random inits 0 and 1" \
  --out results/label_efficiency_a3d36.json --png $T/a3d36.png
