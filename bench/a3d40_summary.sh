#!/bin/bash
# AdrenalMNIST3D 28^3, fortieth session (BENCHMARKS "Issue 13: fortieth session", pre-registered; runs of
# bench/a3d40.sh): head seeds 12-17 at 5 and 10 labels per class on the two new DDPMs a3d27-s{3,4}. Paired bootstrap
# over the 298 test volumes, cell-averaged probabilities (bench/paired_methods.py). Only the ResNet-18 3D runs that
# finished are read.
#   bash bench/a3d40_summary.sh > bench/results/a3d40_paired.txt     table results/label_efficiency_a3d40.json
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
T=${TMPDIR:-/tmp}
N=(runs/le-a3d-s{3,4}-d40) NR=(runs/le-a3d-random-d40r0) SMALL=runs/le-a3d-baselines-d40small
RN=(); for s in 12 13 14 15 16 17; do [ -e runs/le-a3d-baselines-d40rn$s/done.json ] && RN+=(runs/le-a3d-baselines-d40rn$s); done
CTL=(); [ -e "${NR[0]}/done.json" ] && CTL=("${NR[@]}")
echo "# ResNet-18 3D runs that finished: ${RN[*]}"
echo "# random-init control runs that finished: ${CTL[*]:-none}"
echo "# check: the subsets of every run equal those of the small-CNN run (head seeds 12-17)"
$PY same_subsets.py $SMALL "${N[@]}" "${CTL[@]}" "${RN[@]}"
for b in 5 10; do
  echo "# budget $b: (primary) linear_topk minus the ResNet-18 3D, head seeds 12-17"
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref resnet18 --ref-runs "${RN[@]}" --methods linear_topk
  if [ ${#CTL[@]} -gt 0 ]; then
    echo "# budget $b: (secondary) linear_topk, linear_best minus the same probe on the random-init U-Net"
    $PY paired_methods.py --budget $b --runs "${N[@]}" --against-runs "${CTL[@]}" --methods linear_topk linear_best
  fi
  echo "# budget $b: (secondary) linear_topk minus the small CNN; linear_best, linear_ks minus the ResNet-18 3D, the small CNN"
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref small_cnn --ref-runs $SMALL --methods linear_topk
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref resnet18 --ref-runs "${RN[@]}" --methods linear_best linear_ks
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref small_cnn --ref-runs $SMALL --methods linear_best linear_ks
  echo "# budget $b: (descriptive) per DDPM: linear_topk minus the ResNet-18 3D"
  for r in "${N[@]}"; do
    $PY paired_methods.py --budget $b --runs $r --ref resnet18 --ref-runs "${RN[@]}" --methods linear_topk
  done
done
# ft_pairs BUDGET WHAT "SEEDS" RUN...: backbone_ft of the FT runs at BUDGET minus the ResNet-18 3D, the frozen
# linear_topk of the -d40 runs and the small CNN, on those head seeds only (the seeds every FT run finished)
ft_pairs() {
  local b=$1 what=$2 s rn=(); local -a fs; read -r -a fs <<< "$3"; shift 3
  for s in "${fs[@]}"; do rn+=(runs/le-a3d-baselines-d40rn$s); done
  echo "# budget $b: ($what) backbone_ft minus the ResNet-18 3D, minus linear_topk (frozen), minus the small CNN; head seeds ${fs[*]}"
  $PY paired_methods.py --budget $b --runs "$@" --ref resnet18 --ref-runs "${rn[@]}" --seeds "${fs[@]}" --methods backbone_ft
  $PY paired_methods.py --budget $b --runs "$@" --ref linear_topk --ref-runs "${N[@]}" --seeds "${fs[@]}" --methods backbone_ft
  $PY paired_methods.py --budget $b --runs "$@" --ref small_cnn --ref-runs $SMALL --seeds "${fs[@]}" --methods backbone_ft
}
# the declared additions: backbone_ft at 5 (-d40ft) and at 10 labels (-d40ft10); FT_SEEDS / FT10_SEEDS (default
# 12-17) name the head seeds every run of that budget finished
FT=(); FT10=()
for d in 3 4; do
  [ -d runs/le-a3d-s$d-d40ft/budgets/b5 ] && FT+=(runs/le-a3d-s$d-d40ft)
  [ -d runs/le-a3d-s$d-d40ft10/budgets/b10 ] && FT10+=(runs/le-a3d-s$d-d40ft10)
done
[ ${#FT[@]} -eq 0 ] || ft_pairs 5 "declared addition" "${FT_SEEDS:-12 13 14 15 16 17}" "${FT[@]}"
[ ${#FT10[@]} -eq 0 ] || ft_pairs 10 "second declared addition" "${FT10_SEEDS:-12 13 14 15 16 17}" "${FT10[@]}"
if [ $(( ${#FT[@]} + ${#FT10[@]} )) -gt 0 ]; then
  $PY label_efficiency_summary.py --runs "${FT[@]}" "${FT10[@]}" --budgets 5 10 --title "backbone_ft, AdrenalMNIST3D" --ddpm "" \
    --out $T/a3d40ft.json --png $T/a3d40ft.png | grep -E "^\| (method|diffusion U-Net)"
fi
echo "# cell means, head seeds 12-17 (table results/label_efficiency_a3d40.json)"
CARGS=(); [ ${#CTL[@]} -gt 0 ] && CARGS=(--control "${CTL[@]}")
$PY label_efficiency_summary.py --runs "${N[@]}" "${RN[@]}" $SMALL "${CARGS[@]}" --budgets 5 10 \
  --title "AdrenalMNIST3D 28^3, head seeds 12-17 (fortieth session)" \
  --ddpm "a3d27-s{3,4}, 2000 steps; control: the random init of le-a3d-baselines-d40small" \
  --out results/label_efficiency_a3d40.json --png $T/a3d40.png
