#!/bin/bash
# Brain MRI 64^2, thirty-ninth session (BENCHMARKS "Issue 13: thirty-ninth session"; runs of bench/b64_39.sh):
# backbone_ft (the DDPM's U-Net fine-tuned end to end) on two new 3000-step DDPMs (seeds 4, 5) against the ResNet-18
# and the small CNN trained on the same machine, and the frozen probes of the same runs, at 5 and 10 labels per class.
# Paired bootstrap over the 584 test images, cell-averaged probabilities (bench/paired_methods.py).
#   bash bench/b64_39_summary.sh > bench/results/b64_39_paired.txt
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
N=(runs/le-b64-s{4,5}-d39)
RN=(runs/le-b64-baselines-d39rn5 runs/le-b64-baselines-d39rn10a runs/le-b64-baselines-d39rn10b)
SC=runs/le-b64-baselines-d39sc
have() { for r in "$@"; do [ -e "$r/results.json" ] || [ -d "$r/budgets" ] && echo "$r"; done; }
mapfile -t RNH < <(have "${RN[@]}")
echo "# check: the subsets of every run equal those of the first"
$PY same_subsets.py --list-seeds "${N[@]}" "${RNH[@]}" $(have $SC)
for b in 10 5; do
  echo "# budget $b: (primary) backbone_ft minus the ResNet-18"
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref resnet18 --ref-runs "${RNH[@]}" --methods backbone_ft
  echo "# budget $b: (secondary) backbone_ft minus linear_ks of the same runs; minus the small CNN"
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref linear_ks --methods backbone_ft
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref small_cnn --ref-runs $SC --methods backbone_ft
  echo "# budget $b: (secondary) the probes minus the ResNet-18 and minus the small CNN"
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref resnet18 --ref-runs "${RNH[@]}" --methods linear_ks linear_best
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref small_cnn --ref-runs $SC --methods linear_ks linear_best
done
echo "# every method: mean +- sd over cells (DDPM runs: 2 DDPMs x head seeds 0-5; CNNs: head seeds 0-5)"
$PY - "${RNH[@]}" <<'PYEOF'
import sys
from step_table import cells, stats
rn = sys.argv[1:]
print("budget\tmethod\truns\tcells\tmacro-F1 mean +- sd\tAUC mean +- sd")
for b in (5, 10):
    for runs, ms, who in ((["runs/le-b64-s4-d39", "runs/le-b64-s5-d39"], ("backbone_ft", "linear_ks", "linear_best"), "DDPMs"),
                          (rn, ("resnet18",), "CNN runs"), (["runs/le-b64-baselines-d39sc"], ("small_cnn",), "CNN run")):
        for m in ms:
            c = cells(runs, m, b)
            if c:
                print(f"{b}\t{m}\t{who}\t{stats(c)}")
PYEOF
