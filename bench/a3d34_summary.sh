#!/bin/bash
# AdrenalMNIST3D 28^3, thirty-fourth session (BENCHMARKS "Issue 13: thirty-fourth session"; runs of bench/a3d34.sh):
# plan 2, the top-5 probe ensemble (linear_topk) against the best-cell probe (linear_best) on the two trained DDPMs
# and the two random U-Nets, head seeds 0-5 at 5-50 labels, and against the CNNs trained beside them.
#   bash bench/a3d34_summary.sh > bench/results/a3d34_paired.txt    table results/label_efficiency_a3d34.json
#   bash bench/a3d34_summary.sh s50 > bench/results/a3d34_s50_paired.txt   declared addition 3: head seeds 0-5 at 50
#        labels for the CATS-like head and the KS-keys probe
#   bash bench/a3d34_summary.sh pn > bench/results/a3d34_pn_paired.txt   declared addition 1 (2D): the same on
#        PneumoniaMNIST with README (a)'s DDPM; table results/label_efficiency_a3d34_pn.json
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
T=${TMPDIR:-/tmp}
if [ "${1:-}" = pn ]; then  # declared addition 1: PneumoniaMNIST, README (a)'s DDPM, one random U-Net, the CNNs beside them
  TK=runs/le-pn-s0-d34topk TKR=runs/le-pn-random-d34topk BL=runs/le-pn-baselines-d34
  same=0 differ=0
  for b in 5 10 25 50; do for sd in 0 1 2; do  # the re-run linear_best cells against the thirty-third session's
    if cmp -s $TK/budgets/b$b/seed$sd/linear_best/predictions.csv runs/le-pn-s0-d33demo/budgets/b$b/seed$sd/linear_best/predictions.csv
    then same=$((same + 1)); else differ=$((differ + 1)); fi
  done; done
  echo "# check: linear_best predictions identical to le-pn-s0-d33demo's (head seeds 0-2): $same; different: $differ"
  for b in 5 10 25 50; do
    echo "# budget $b: (Q1) linear_topk minus linear_best, README (a)'s DDPM; then on the random U-Net"
    $PY paired_methods.py --methods linear_topk --budget $b --runs $TK --ref linear_best
    $PY paired_methods.py --methods linear_topk --budget $b --runs $TKR --ref linear_best
    echo "# budget $b: (Q2) DDPM minus random U-Net, linear_topk and linear_best"
    $PY paired_methods.py --methods linear_topk linear_best --budget $b --runs $TK --against-runs $TKR
    echo "# budget $b: (Q3) on the DDPM minus the ResNet-18, then minus the small CNN (head seeds 0-5)"
    $PY paired_methods.py --budget $b --runs $TK --ref resnet18 --ref-runs $BL --methods linear_topk linear_best
    $PY paired_methods.py --budget $b --runs $TK --ref small_cnn --ref-runs $BL --methods linear_topk linear_best
  done
  echo "# cell means (table results/label_efficiency_a3d34_pn.json): README (a)'s DDPM; control = the random U-Net"
  $PY label_efficiency_summary.py --runs $TK $BL --control $TKR --budgets 5 10 25 50 \
    --title "PneumoniaMNIST 28x28, the top-5 probe ensemble on README (a)'s DDPM (thirty-fourth session)" \
    --ddpm "README (a)'s 300-step DDPM; control: a random-init U-Net" \
    --out results/label_efficiency_a3d34_pn.json --png $T/a3d34_pn.png
  exit 0
fi
if [ "${1:-}" = s50 ]; then  # declared addition 3: head seeds 0-5 at 50 labels, CATS-like head and KS-keys probe
  T50=(runs/le-a3d-s{0,1}-d32cheap runs/le-a3d-s{0,1}-d34s345b50)
  R50=(runs/le-a3d-random-d32r0cheap runs/le-a3d-random-d32r1{a,b} runs/le-a3d-random-d34r{0,1}s345b50)
  for m in cats linear_ks; do
    echo "# budget 50: $m, trained DDPMs minus random U-Nets (init 0 and 1), head seeds 0-5; then seeds 3-5 alone"
    $PY paired_methods.py --methods $m --budget 50 --runs "${T50[@]}" --against-runs "${R50[@]}"
    $PY paired_methods.py --methods $m --budget 50 --runs "${T50[@]}" --against-runs "${R50[@]}" --seeds 3 4 5
  done
  exit 0
fi
TK=(runs/le-a3d-s{0,1}-d34topk) TKR=(runs/le-a3d-random-d34r{0,1}topk)
# the earlier sessions' linear_best cells of the same feature sources (seeds 0-2: d30few 5/10, d32cheap 25/50;
# seeds 3-5: d32s345 5/10, d32s345b25 25), which the re-run cells must reproduce
OLD=(runs/le-a3d-s{0,1}-d30few runs/le-a3d-s{0,1}-d32cheap runs/le-a3d-s{0,1}-d32s345 runs/le-a3d-s{0,1}-d32s345b25
     runs/le-a3d-random-d32r0cheap runs/le-a3d-random-d32r0s345 runs/le-a3d-random-d32r0s345b25
     runs/le-a3d-random-d32r1{a,b} runs/le-a3d-random-d32r1s345 runs/le-a3d-random-d32r1s345b25)
echo "# check: re-run linear_best cells against the earlier sessions' cells of the same feature source, budget and seed"
$PY - "${TK[@]}" "${TKR[@]}" -- "${OLD[@]}" <<'PYEOF'
import json, sys
from pathlib import Path
args = sys.argv[1:]
new, old = [Path(a) for a in args[:args.index("--")]], [Path(a) for a in args[args.index("--") + 1:]]
def source(run):  # le-a3d-s0-..., le-a3d-random-d34r0topk / -d32r0cheap / -d32r1a: DDPM 0/1, init 0/1
    n = run.name
    if n.startswith("le-a3d-s"):
        return "DDPM " + n[8]
    tag = n.split("-")[3]  # d34r0topk: the digit after the session's 'r'
    return "init " + tag[tag.index("r") + 1]
olds = {}
for r in old:
    for f in r.glob("budgets/b*/seed*/linear_best/metrics.json"):
        olds[(source(r), f.parts[-4], f.parts[-3])] = f
same = differ = unmatched = 0
for r in new:
    for f in sorted(r.glob("budgets/b*/seed*/linear_best/metrics.json")):
        o = olds.get((source(r), f.parts[-4], f.parts[-3]))
        if o is None:
            unmatched += 1
            continue
        a, b = json.loads(f.read_text()), json.loads(o.read_text())
        pa, pb = (p.parent / "predictions.csv" for p in (f, o))
        if all(a[m] == b[m] for m in ("f1", "auc", "bacc")) and a["input"] == b["input"] and pa.read_bytes() == pb.read_bytes():
            same += 1
        else:
            differ += 1
            print(f"DIFFERS: {f} vs {o}")
print(f"linear_best cells identical to the earlier ones: {same}; different: {differ}; no earlier cell: {unmatched}")
PYEOF
declare -A RN=([5]="d30rn" [10]="d30rn" [25]="d31rn") SMALL=([5]="d30cnn" [10]="d30cnn" [25]="d31small" [50]="d31b50cnn")
top() { $PY paired_methods.py --methods linear_topk "$@"; }
s50() { [ "$1" = 50 ] && echo "--seeds 0 1 2" || true; }  # the trained DDPMs' linear_ks cells have head seeds 0-2 at 50
for b in 5 10 25 50; do
  echo "# budget $b: (Q1, primary) linear_topk minus linear_best, trained DDPMs (head seeds 0-5)"
  top --budget $b --runs "${TK[@]}" --ref linear_best
  echo "# budget $b: (Q1) linear_topk minus linear_best, random U-Nets"
  top --budget $b --runs "${TKR[@]}" --ref linear_best
  echo "# budget $b: (Q2) linear_topk, trained DDPMs minus random U-Nets (both inits); linear_best the same"
  $PY paired_methods.py --methods linear_topk linear_best --budget $b --runs "${TK[@]}" --against-runs "${TKR[@]}"
  echo "# budget $b: (Q3, the goal) linear_topk and linear_best on the trained DDPMs minus the ResNet-18 3D and the small CNN"
  if [ -n "${RN[$b]:-}" ]; then
    $PY paired_methods.py --budget $b --runs "${TK[@]}" --ref resnet18 --ref-runs runs/le-a3d-baselines-${RN[$b]}{0,1,2} \
      --methods linear_topk linear_best --seeds 0 1 2
  fi
  $PY paired_methods.py --budget $b --runs "${TK[@]}" --ref small_cnn --ref-runs runs/le-a3d-baselines-${SMALL[$b]}{0,1,2} \
    --methods linear_topk linear_best --seeds 0 1 2
  if [ "$b" -le 10 ] && [ -d runs/le-a3d-baselines-d34small345 ]; then
    echo "# budget $b: (Q3, six head seeds) the same against the ResNet-18 3D and the small CNN of head seeds 0-5 (plan 1)"
    $PY paired_methods.py --budget $b --runs "${TK[@]}" --ref resnet18 \
      --ref-runs runs/le-a3d-baselines-${RN[$b]}{0,1,2} runs/le-a3d-baselines-d34rn{3,4,5} --methods linear_topk linear_best
    $PY paired_methods.py --budget $b --runs "${TK[@]}" --ref small_cnn \
      --ref-runs runs/le-a3d-baselines-${SMALL[$b]}{0,1,2} runs/le-a3d-baselines-d34small345 --methods linear_topk linear_best
  fi
done
R2=runs/le-a3d-random-d34r2topk
if [ -d $R2 ]; then  # declared addition 2: the third random U-Net
  KS=(runs/le-a3d-s{0,1}-d30few runs/le-a3d-s{0,1}-d32cheap runs/le-a3d-s{0,1}-d32s345 runs/le-a3d-s{0,1}-d32s345b25)
  for b in 5 10 25 50; do
    echo "# budget $b: (addition 2) trained DDPMs minus the three random U-Nets pooled; then minus init 2 alone"
    $PY paired_methods.py --methods linear_topk linear_best --budget $b --runs "${TK[@]}" --against-runs "${TKR[@]}" $R2
    $PY paired_methods.py --methods linear_topk linear_best --budget $b --runs "${TK[@]}" --against-runs $R2
    echo "# budget $b: (addition 2) linear_ks, trained DDPMs (the earlier sessions' cells) minus init 2"
    $PY paired_methods.py --methods linear_ks --budget $b --runs "${KS[@]}" --against-runs $R2 $(s50 $b)
    echo "# budget $b: (addition 2) linear_topk minus linear_best on init 2"
    $PY paired_methods.py --methods linear_topk --budget $b --runs $R2 --ref linear_best
  done
fi
echo "# cell means (table results/label_efficiency_a3d34.json): trained DDPMs; control = the random U-Nets"
$PY label_efficiency_summary.py --runs "${TK[@]}" runs/le-a3d-baselines-d30rn{0,1,2} runs/le-a3d-baselines-d34rn{3,4,5} \
  --control "${TKR[@]}" $R2 --budgets 5 10 25 50 \
  --title "AdrenalMNIST3D 28^3, the top-5 probe ensemble (thirty-fourth session)" \
  --ddpm "2000-step DDPMs a3d27-s{0,1} retrained; control: two random-init U-Nets" \
  --out results/label_efficiency_a3d34.json --png $T/a3d34.png
