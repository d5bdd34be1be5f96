#!/bin/bash
# PneumoniaMNIST 28^2, thirty-sixth session (BENCHMARKS "Issue 13: thirty-sixth session"; runs of bench/pn36.sh and
# bench/pn36b.sh): two new 3000-step DDPMs (seeds 5, 6) against the CNNs of le-pn-baselines-d34 (head seeds 0-5).
# Paired bootstrap over the 624 test images, cell-averaged probabilities (bench/paired_methods.py).
#   bash bench/pn36_summary.sh > bench/results/pn36_paired.txt     table results/label_efficiency_pn36.json
#   bash bench/pn36_summary.sh k4 > bench/results/pn36_k4.txt      second plan (bench/pn36c.sh): 4000 steps, compute curve
#   bash bench/pn36_summary.sh s611 > bench/results/pn36_s611.txt  third plan (bench/pn36d.sh): head seeds 6-11
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
T=${TMPDIR:-/tmp}
if [ "${1:-}" = k4 ]; then  # the second plan (bench/pn36c.sh): 4000 steps, and the probes along the way
  #   bash bench/pn36_summary.sh k4 > bench/results/pn36_k4.txt
  K4=(runs/le-pn-s{5,6}-d36k40) K3=(runs/le-pn-s{5,6}-d36) CNN=runs/le-pn-baselines-d34
  for b in 5 10 25 50; do
    echo "# budget $b: (Q1, primary at 10) 4000 minus 3000 steps: linear_ks, then linear_topk, linear_best"
    $PY paired_methods.py --budget $b --runs "${K4[@]}" --against-runs "${K3[@]}" --methods linear_ks linear_topk linear_best
    echo "# budget $b: (Q2, a second look) at 4000 steps minus the ResNet-18, then minus the small CNN"
    $PY paired_methods.py --budget $b --runs "${K4[@]}" --ref resnet18 --ref-runs $CNN --methods linear_ks linear_topk linear_best
    $PY paired_methods.py --budget $b --runs "${K4[@]}" --ref small_cnn --ref-runs $CNN --methods linear_ks linear_topk linear_best
  done
  echo "# the probes against pretraining length: mean +- sd over 12 cells (2 DDPMs x head seeds 0-5); DDPM wall time"
  echo "# to reach the step (metrics.jsonl, the two DDPMs side by side; 3000-4000 from the resumed copies)"
  $PY - <<'PYEOF'
import json
from pathlib import Path
from step_table import cells, stats
sfx = {500: "d36k5", 1000: "d36k10", 1500: "d36k15", 2000: "d36k20", 2500: "d36k25", 3000: "d36", 3500: "d36k35",
       4000: "d36k40"}
def wall(seed, step):
    t = 0.0
    for d, lo in ((Path("/work/ddpm_runs"), 0), (Path("/work/ddpm_runs36"), 3000)):
        f = d / f"pn36-s{seed}" / "metrics.jsonl"
        rows = [json.loads(x) for x in f.read_text().splitlines()] if f.exists() else []
        rows = [r for r in rows if lo < r["step"] <= step and "time" in r]
        t += max((r["time"] for r in rows), default=0.0) if lo == 0 else (rows[-1]["time"] if rows else 0.0)
    return t
print("budget\tmethod\tsteps\twall min (s5, s6)\tcells\tmacro-F1 mean +- sd\tAUC mean +- sd")
for b in (5, 10, 25, 50):
    for m in ("linear_ks", "linear_topk", "linear_best"):
        for st, x in sfx.items():
            c = cells([f"runs/le-pn-s{s}-{x}" for s in (5, 6)], m, b)
            if c:
                print(f"{b}\t{m}\t{st}\t{wall(5, st) / 60:.1f}, {wall(6, st) / 60:.1f}\t{stats(c)}")
PYEOF
  exit 0
fi
if [ "${1:-}" = s611 ]; then  # the third plan (bench/pn36d.sh): head seeds 6-11, new labelled draws
  #   bash bench/pn36_summary.sh s611 > bench/results/pn36_s611.txt
  N=(runs/le-pn-s{5,6}-d36s611) NC=runs/le-pn-baselines-d36s611 NR=runs/le-pn-random-d36s611
  echo "# check: the subsets of every seeds-6-11 run equal those of the CNN run"
  $PY same_subsets.py --list-seeds $NC "${N[@]}" $NR
  for b in 5 10 25; do
    echo "# budget $b: (primary) linear_ks minus the ResNet-18, head seeds 6-11; then minus linear_ks on the random U-Net"
    $PY paired_methods.py --budget $b --runs "${N[@]}" --ref resnet18 --ref-runs $NC --methods linear_ks
    $PY paired_methods.py --budget $b --runs "${N[@]}" --against-runs $NR --methods linear_ks
    echo "# budget $b: (secondary) minus the small CNN; linear_topk, linear_best minus the ResNet-18, the small CNN"
    $PY paired_methods.py --budget $b --runs "${N[@]}" --ref small_cnn --ref-runs $NC --methods linear_ks
    $PY paired_methods.py --budget $b --runs "${N[@]}" --ref resnet18 --ref-runs $NC --methods linear_topk linear_best
    $PY paired_methods.py --budget $b --runs "${N[@]}" --ref small_cnn --ref-runs $NC --methods linear_topk linear_best
    echo "# budget $b: (secondary) head seeds 0-11 pooled: the three probes minus the ResNet-18, then the small CNN"
    $PY paired_methods.py --budget $b --runs runs/le-pn-s{5,6}-d36 "${N[@]}" --ref resnet18 \
      --ref-runs runs/le-pn-baselines-d34 $NC --methods linear_ks linear_topk linear_best
    $PY paired_methods.py --budget $b --runs runs/le-pn-s{5,6}-d36 "${N[@]}" --ref small_cnn \
      --ref-runs runs/le-pn-baselines-d34 $NC --methods linear_ks linear_topk linear_best
  done
  echo "# cell means, head seeds 6-11 (table results/label_efficiency_pn36_s611.json)"
  $PY label_efficiency_summary.py --runs "${N[@]}" $NC --control $NR --budgets 5 10 25 \
    --title "PneumoniaMNIST 28^2, two new 3000-step DDPMs, head seeds 6-11 (thirty-sixth session)" \
    --ddpm "pn36-s{5,6}, 3000 steps; control: the random-init U-Net of le-pn-baselines-d34" \
    --out results/label_efficiency_pn36_s611.json --png $T/pn36_s611.png
  exit 0
fi
D=(runs/le-pn-s{5,6}-d36)            # linear_best, linear_ks, linear_topk
DC=(runs/le-pn-s{5,6}-d36cats)       # cats, dcube_feats (declared addition)
CNN=runs/le-pn-baselines-d34         # ResNet-18, small CNN, head seeds 0-5
RND=(runs/le-pn-random-d34topk runs/le-pn-random-d36ks)   # the random U-Net: linear_best + linear_topk; linear_ks
[ ! -d runs/le-pn-random-d36cats/budgets ] || RND+=(runs/le-pn-random-d36cats)   # cats + dcube_feats (addition 2)
have() { compgen -G "$1" > /dev/null; }
echo "# check: the labelled subsets, validation subsets and test ids of every run equal le-pn-baselines-d34's"
$PY same_subsets.py $CNN "${D[@]}" "${DC[@]}" "${RND[@]}"
for b in 5 10 25 50; do
  echo "# budget $b: (primary at 5-25) linear_ks on the new DDPMs minus the ResNet-18; then minus the small CNN"
  $PY paired_methods.py --budget $b --runs "${D[@]}" --ref resnet18 --ref-runs $CNN --methods linear_ks
  $PY paired_methods.py --budget $b --runs "${D[@]}" --ref small_cnn --ref-runs $CNN --methods linear_ks
  echo "# budget $b: (post hoc, after reading the primary) the primary split by head seeds 0-2 and 3-5"
  for ss in "0 1 2" "3 4 5"; do
    $PY paired_methods.py --budget $b --runs "${D[@]}" --ref resnet18 --ref-runs $CNN --methods linear_ks --seeds $ss
  done
  echo "# budget $b: (primary, attribution) linear_ks on the new DDPMs minus linear_ks on the random U-Net"
  $PY paired_methods.py --budget $b --runs "${D[@]}" --against-runs runs/le-pn-random-d36ks --methods linear_ks
  echo "# budget $b: (secondary) linear_topk, linear_best minus the ResNet-18, the small CNN, the random U-Net"
  $PY paired_methods.py --budget $b --runs "${D[@]}" --ref resnet18 --ref-runs $CNN --methods linear_topk linear_best
  $PY paired_methods.py --budget $b --runs "${D[@]}" --ref small_cnn --ref-runs $CNN --methods linear_topk linear_best
  $PY paired_methods.py --budget $b --runs "${D[@]}" --against-runs runs/le-pn-random-d34topk \
    --methods linear_topk linear_best
  if have "runs/le-pn-s?-d36cats/budgets/b$b/seed*/cats/metrics.json"; then
    echo "# budget $b: (declared addition) the CATS-like head, D-Cube without its image CNN minus the ResNet-18, the small CNN"
    $PY paired_methods.py --budget $b --runs "${DC[@]}" --ref resnet18 --ref-runs $CNN --methods cats dcube_feats
    $PY paired_methods.py --budget $b --runs "${DC[@]}" --ref small_cnn --ref-runs $CNN --methods cats dcube_feats
  fi
  if have "runs/le-pn-random-d36cats/budgets/b$b/seed*/cats/metrics.json"; then
    echo "# budget $b: (declared addition 2) the same two heads on the new DDPMs minus on the random U-Net"
    $PY paired_methods.py --budget $b --runs "${DC[@]}" --against-runs runs/le-pn-random-d36cats --methods cats dcube_feats
  fi
done
echo "# cell means (table results/label_efficiency_pn36.json): the new DDPMs; control = the random U-Net"
DCR=(); for r in "${DC[@]}"; do [ -d "$r/budgets" ] && DCR+=("$r"); done
$PY label_efficiency_summary.py --runs "${D[@]}" "${DCR[@]}" $CNN --control "${RND[@]}" --budgets 5 10 25 50 \
  --title "PneumoniaMNIST 28^2, two new 3000-step DDPMs (thirty-sixth session)" \
  --ddpm "pn36-s{5,6}, 3000 steps; control: the random-init U-Net of le-pn-baselines-d34" \
  --out results/label_efficiency_pn36.json --png $T/pn36.png
