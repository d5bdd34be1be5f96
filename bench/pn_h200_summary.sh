#!/bin/bash
# PneumoniaMNIST budget `all` over the complete 4708-image training split, three DDPMs (BENCHMARKS "Issue 13:
# twenty-first session"): the seed-2 DDPM's CPU cells (le-pn-s2-avx2d3000full, twentieth session) and the cells the
# H200 call of bench/gpu_pn_allfull.sh brought back (le-pn-s{2,3,4}-h200d{3000,4000}full, le-pn-baselines-h200fullcnn,
# le-pn-random-h200full), against the CPU CNNs of le-pn-baselines-avx2full. Same split, budget and head seeds 0-2.
# Writes results/label_efficiency_pn_allfull_3ddpm.json and prints every pre-registered comparison
# (kept in results/pn_allfull_3ddpm_paired.txt).
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
R=runs
BF=$R/le-pn-baselines-avx2full         # ResNet-18, small CNN (CPU)
CNN=$R/le-pn-baselines-h200fullcnn     # D-Cube's image CNN alone (H200)
S2C=$R/le-pn-s2-avx2d3000full          # seed 2, four cheap methods (CPU)
S2G=$R/le-pn-s2-h200d3000full          # seed 2, five methods (H200)
S34=($R/le-pn-s3-h200d3000full $R/le-pn-s4-h200d3000full)  # seeds 3, 4 at step 3000 (H200 + CPU completion)
D4=($R/le-pn-s3-h200d4000full $R/le-pn-s4-h200d4000full)   # seeds 3, 4 at step 4000
D3=("$S2C" "${S34[@]}")     # the primary row: three DDPMs at step 3000
DFULL=("$S2G" "${S34[@]}")  # the full D-Cube head (seed 2's cells exist on the H200 only)
CTL=$R/le-pn-random-h200full
for d in $BF $CNN $S2C $S2G "${D3[@]}" $CTL; do [ -d $d ] || { echo "missing $d" >&2; exit 1; }; done
$PY label_efficiency_summary.py --runs $BF $CNN "${D3[@]}" --control $CTL --budgets all \
  --title "PneumoniaMNIST 28x28, budget all = 4708 labels" --ddpm "three 3000-step fp32 DDPMs (seeds 2-4)" \
  --out results/label_efficiency_pn_allfull_3ddpm.json --png "${TMPDIR:-/tmp}/pn_allfull_3ddpm.png"
P() { $PY paired_methods.py --budget all "$@"; }
echo "######## PRIMARY (pre-registered): three DDPMs (seeds 2-4, step 3000) vs ResNet-18"
P --runs "${D3[@]}" --ref resnet18 --ref-runs $BF --methods linear_ks dcube_feats
echo "== every cheap diffusion method, three DDPMs, vs each CNN"
for ref in resnet18 small_cnn; do echo "-- vs $ref"; P --runs "${D3[@]}" --ref $ref --ref-runs $BF; done
echo "-- vs dcube_cnn"; P --runs "${D3[@]}" --ref dcube_cnn --ref-runs $CNN
echo "######## the full D-Cube head (three DDPMs, H200 cells)"
echo "-- vs resnet18"; P --runs "${DFULL[@]}" --ref resnet18 --ref-runs $BF --methods dcube
echo "-- vs its image CNN alone"; P --runs "${DFULL[@]}" --ref dcube_cnn --ref-runs $CNN --methods dcube
echo "-- vs D-Cube without its image CNN (same DDPMs)"; P --runs "${DFULL[@]}" --ref dcube_feats --methods dcube
echo "-- D-Cube's image CNN alone vs resnet18"; P --runs $CNN --ref resnet18 --ref-runs $BF --methods dcube_cnn
echo "######## trained DDPMs (three, step 3000) vs the random-init U-Net"
P --runs "${D3[@]}" --against-runs $CTL
if [ -d "${D4[0]}" ] && [ -d "${D4[1]}" ]; then
  echo "######## step 4000 vs step 3000 (seeds 3, 4; same DDPM runs)"
  P --runs "${D4[@]}" --against-runs "${S34[@]}"
  echo "-- step 4000 vs resnet18"
  P --runs "${D4[@]}" --ref resnet18 --ref-runs $BF
  echo "-- step 4000, full D-Cube head vs its image CNN alone"
  P --runs "${D4[@]}" --ref dcube_cnn --ref-runs $CNN --methods dcube
fi
echo "######## hardware check: seed-2 DDPM, the same cells computed on the H200 vs on the CPU"
$PY - "$S2C" "$S2G" <<'PYEOF'
import sys
from pathlib import Path
from label_efficiency_summary import read_cells
cpu = {(c["seed"], c["method"]): c for c in read_cells(Path(sys.argv[1]), ["all"])}
gpu = {(c["seed"], c["method"]): c for c in read_cells(Path(sys.argv[2]), ["all"])}
worst = {}
for k in sorted(set(cpu) & set(gpu)):
    d = {m: gpu[k][m] - cpu[k][m] for m in ("f1", "auc")}
    print(f"seed {k[0]} {k[1]:12s} F1 CPU {cpu[k]['f1']:.4f} H200 {gpu[k]['f1']:.4f} ({d['f1']:+.4f})  "
          f"AUC CPU {cpu[k]['auc']:.4f} H200 {gpu[k]['auc']:.4f} ({d['auc']:+.4f})")
    w = worst.setdefault(k[1], [0.0, 0.0])
    w[0], w[1] = max(w[0], abs(d["f1"])), max(w[1], abs(d["auc"]))
for m, (f, a) in worst.items():
    print(f"largest |H200 - CPU| {m:12s} F1 {f:.4f}  AUC {a:.4f}")
PYEOF
