#!/bin/bash
# PneumoniaMNIST 28^2, thirty-eighth session (BENCHMARKS "Issue 13: thirty-eighth session"; runs of bench/pn38.sh):
# backbone_ft (the DDPM's U-Net fine-tuned end to end) on two 3000-step DDPMs retrained on this machine, against the
# ResNet-18 and small CNN of the same machine, the frozen probes of the same runs and the random-init U-Net.
# Paired bootstrap over the 624 test images, cell-averaged probabilities (bench/paired_methods.py).
#   bash bench/pn38_summary.sh > bench/results/pn38_paired.txt
#   bash bench/pn38_summary.sh b50 > bench/results/pn38_b50.txt   (the declared addition: 50 labels per class)
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
N=(runs/le-pn-s{5,6}-d38) C=runs/le-pn-baselines-d38 R=runs/le-pn-random-d38
echo "# check: the subsets of every run equal those of the CNN run"
$PY same_subsets.py --list-seeds $C "${N[@]}" $R
BUDGETS=(10 25 5); [ "${1:-}" = b50 ] && BUDGETS=(50)
for b in "${BUDGETS[@]}"; do
  echo "# budget $b: (primary at 10, 25) backbone_ft minus the ResNet-18; then minus backbone_ft on the random U-Net"
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref resnet18 --ref-runs $C --methods backbone_ft
  $PY paired_methods.py --budget $b --runs "${N[@]}" --against-runs $R --methods backbone_ft
  echo "# budget $b: (secondary) backbone_ft minus linear_ks of the same runs; minus the small CNN"
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref linear_ks --methods backbone_ft
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref small_cnn --ref-runs $C --methods backbone_ft
  echo "# budget $b: (secondary) the probes minus the ResNet-18 and minus the small CNN; linear_ks minus on the random U-Net"
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref resnet18 --ref-runs $C --methods linear_ks linear_topk linear_best
  $PY paired_methods.py --budget $b --runs "${N[@]}" --ref small_cnn --ref-runs $C --methods linear_ks linear_topk linear_best
  $PY paired_methods.py --budget $b --runs "${N[@]}" --against-runs $R --methods linear_ks
done
echo "# every method: mean +- sd over cells (DDPM runs: 2 DDPMs x head seeds 0-5; CNNs and random U-Net: head seeds 0-5)"
$PY - <<'PYEOF'
from step_table import cells, stats
print("budget\tmethod\truns\tcells\tmacro-F1 mean +- sd\tAUC mean +- sd")
for b in (5, 10, 25, 50):
    for runs, ms in ((["runs/le-pn-s5-d38", "runs/le-pn-s6-d38"], ("backbone_ft", "linear_ks", "linear_topk", "linear_best")),
                     (["runs/le-pn-baselines-d38"], ("resnet18", "small_cnn")),
                     (["runs/le-pn-random-d38"], ("backbone_ft", "linear_ks"))):
        for m in ms:
            c = cells(runs, m, b)
            if c:
                print(f"{b}\t{m}\t{'random U-Net' if 'random' in runs[0] else 'DDPMs' if 's5' in runs[0] else 'CNN run'}\t{stats(c)}")
PYEOF
