#!/bin/bash
# AdrenalMNIST3D 28^3, thirty-fifth session (BENCHMARKS "Issue 13: thirty-fifth session"; runs of bench/a3d35.sh):
# the two 3D DDPMs continued from 2000 to 4000 steps. Paired bootstrap over the 298 test volumes, cell-averaged
# probabilities (bench/paired_methods.py).
#   bash bench/a3d35_summary.sh > bench/results/a3d35_paired.txt    table results/label_efficiency_a3d35.json
#   bash bench/a3d35_summary.sh steps > bench/results/a3d35_steps.txt   the linear probes against pretraining length
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
T=${TMPDIR:-/tmp}
if [ "${1:-}" = steps ]; then  # the declared addition: mean +- sd over the 12 cells (2 DDPMs x head seeds 0-5)
  # of each linear probe's test macro-F1 and AUC at 2000 (the thirty-fourth session's -d34topk for linear_best /
  # linear_topk, the earlier sessions' runs for linear_ks), 2500, 3000, 3500 and 4000 steps
  #   bash bench/a3d35_summary.sh steps > bench/results/a3d35_steps.txt
  $PY - <<'PYEOF'
from step_table import cells, stats
old_ks = [f"le-a3d-s{s}-{x}" for s in (0, 1) for x in ("d30few", "d32s345", "d32cheap", "d32s345b25", "d34s345b50")]
steps = {2000: None, 2500: "d35k25", 3000: "d35k3", 3500: "d35k35", 4000: "d35k4"}
def runs(step, method):
    if steps[step] is None:
        return old_ks if method == "linear_ks" else [f"le-a3d-s{s}-d34topk" for s in (0, 1)]
    return [f"le-a3d-s{s}-{steps[step]}" for s in (0, 1)]
print("budget\tmethod\tsteps\tcells\tmacro-F1 mean +- sd\tAUC mean +- sd")
for b in (5, 10, 25, 50):
    for m in ("linear_topk", "linear_best", "linear_ks"):
        for st in steps:
            c = cells([f"runs/{r}" for r in runs(st, m)], m, b)
            if c:
                print(f"{b}\t{m}\t{st}\t{stats(c)}")
PYEOF
  exit 0
fi
K4=(runs/le-a3d-s{0,1}-d35k4) K3=(runs/le-a3d-s{0,1}-d35k3) K4C=(runs/le-a3d-s{0,1}-d35k4cats)
TK=(runs/le-a3d-s{0,1}-d34topk)   # linear_best + linear_topk at 2000 steps, head seeds 0-5, 5-50 labels
# linear_ks and the CATS-like head at 2000 steps, head seeds 0-5 at 5-50 labels, over five runs per DDPM
OLD=(runs/le-a3d-s{0,1}-{d30few,d32s345,d32cheap,d32s345b25,d34s345b50})
# the random U-Nets: linear_best + linear_topk (inits 0-2); the CATS-like head (inits 0 and 1, head seeds 0-5)
TKR=(runs/le-a3d-random-d34r{0,1,2}topk)
RC=(runs/le-a3d-random-d32r0{cheap,s345,s345b25} runs/le-a3d-random-d34r0s345b50
    runs/le-a3d-random-d32r1{a,b,s345,s345b25} runs/le-a3d-random-d34r1s345b50)
declare -A RN=([5]="d30rn{0,1,2} d34rn{3,4,5}" [10]="d30rn{0,1,2} d34rn{3,4,5}" [25]="d31rn{0,1,2}")
declare -A SMALL=([5]="d30cnn{0,1,2} d34small345" [10]="d30cnn{0,1,2} d34small345" [25]="d31small{0,1,2}"
                  [50]="d31b50cnn{0,1,2}")
refs() { eval "printf 'runs/le-a3d-baselines-%s\n' $1"; }   # refs "d30rn{0,1,2} d34rn{3,4,5}": the run paths
for b in 5 10 25 50; do
  echo "# budget $b: (Q1, primary at 5) 4000 minus 2000 steps: linear_topk, linear_best; then linear_ks"
  $PY paired_methods.py --methods linear_topk linear_best --budget $b --runs "${K4[@]}" --against-runs "${TK[@]}"
  $PY paired_methods.py --methods linear_ks --budget $b --runs "${K4[@]}" --against-runs "${OLD[@]}"
  echo "# budget $b: (Q2, the goal) linear_topk on the 4000-step DDPMs minus the ResNet-18 3D, then minus the small CNN"
  if [ -n "${RN[$b]:-}" ]; then
    mapfile -t R < <(refs "${RN[$b]}")
    $PY paired_methods.py --budget $b --runs "${K4[@]}" --ref resnet18 --ref-runs "${R[@]}" \
      --methods linear_topk linear_best linear_ks $([ "$b" = 25 ] && echo "--seeds 0 1 2")
  fi
  mapfile -t S < <(refs "${SMALL[$b]}")
  $PY paired_methods.py --budget $b --runs "${K4[@]}" --ref small_cnn --ref-runs "${S[@]}" \
    --methods linear_topk linear_best linear_ks $([ "$b" -ge 25 ] && echo "--seeds 0 1 2")
  echo "# budget $b: (Q3) 3000 minus 2000 steps, then 4000 minus 3000 steps (linear_topk, linear_best, linear_ks)"
  $PY paired_methods.py --methods linear_topk linear_best --budget $b --runs "${K3[@]}" --against-runs "${TK[@]}"
  $PY paired_methods.py --methods linear_ks --budget $b --runs "${K3[@]}" --against-runs "${OLD[@]}"
  $PY paired_methods.py --methods linear_topk linear_best linear_ks --budget $b --runs "${K4[@]}" --against-runs "${K3[@]}"
  echo "# budget $b: (Q3) 4000-step DDPMs minus the random U-Nets (linear_topk, linear_best: inits 0-2)"
  $PY paired_methods.py --methods linear_topk linear_best --budget $b --runs "${K4[@]}" --against-runs "${TKR[@]}"
  if compgen -G "runs/le-a3d-s?-d35k4cats/budgets/b$b/seed*/cats/metrics.json" > /dev/null; then
    echo "# budget $b: (Q3) the CATS-like head: 4000 minus 2000 steps, then 4000 steps minus the random U-Nets (inits 0, 1)"
    $PY paired_methods.py --methods cats --budget $b --runs "${K4C[@]}" --against-runs "${OLD[@]}"
    $PY paired_methods.py --methods cats --budget $b --runs "${K4C[@]}" --against-runs "${RC[@]}"
  fi
done
echo "# cell means (table results/label_efficiency_a3d35.json): 4000-step DDPMs; control = the random U-Nets"
mapfile -t R < <(refs "${RN[5]}")
$PY label_efficiency_summary.py --runs "${K4[@]}" "${K4C[@]}" "${R[@]}" --control "${TKR[@]}" --budgets 5 10 25 50 \
  --title "AdrenalMNIST3D 28^3, the 3D DDPMs at 4000 steps (thirty-fifth session)" \
  --ddpm "a3d27-s{0,1} continued from 2000 to 4000 steps; control: three random-init U-Nets" \
  --out results/label_efficiency_a3d35.json --png $T/a3d35.png
