#!/bin/bash
# PneumoniaMNIST budget `all` over the complete 4708-image training split (BENCHMARKS "Issue 13: nineteenth
# session", amended in the twentieth): one retrained fp32 DDPM (seed 2, 3000-step checkpoint) against the CNNs of
# le-pn-baselines-avx2full*, same split and head seeds; plus the retraining check (the retrained DDPM's 5-label cells
# against the seventeenth session's seed-2 cells). Needs the twentieth session's run directories (bench/runs/).
# Writes results/label_efficiency_pn_avx2_allfull.json and prints every paired comparison
# (kept in results/pn_avx2_allfull_paired.txt).
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
R=runs
DF=$R/le-pn-s2-avx2d3000full
BF=$R/le-pn-baselines-avx2full; REFS=small_cnn
[ -d $R/le-pn-baselines-avx2fullcnn ] && BF="$BF $R/le-pn-baselines-avx2fullcnn" && REFS="$REFS dcube_cnn"
CTL=(); [ -d $R/le-pn-random-avx2full ] && CTL=(--control $R/le-pn-random-avx2full)
$PY label_efficiency_summary.py --runs $BF $DF "${CTL[@]}" --budgets all \
  --title "PneumoniaMNIST 28x28, budget all = 4708 labels" --ddpm "one 3000-step fp32 DDPM (seed 2)" \
  --out results/label_efficiency_pn_avx2_allfull.json --png "${TMPDIR:-/tmp}/pn_avx2_allfull.png"
echo "######## PRIMARY (pre-registered): budget all (complete split) vs ResNet-18"
$PY paired_methods.py --budget all --runs $DF --ref resnet18 --ref-runs $BF
for ref in $REFS; do
  echo "== budget all (complete split) vs $ref"; $PY paired_methods.py --budget all --runs $DF --ref $ref --ref-runs $BF
done
if [ ${#CTL[@]} -gt 0 ]; then
  echo "== budget all (complete split): trained DDPM vs random-init U-Net"
  $PY paired_methods.py --budget all --runs $DF --against-runs $R/le-pn-random-avx2full
fi
echo "######## check: the retrained seed-2 DDPM at 5 labels vs the seventeenth session's seed-2 cells"
$PY - <<'PYEOF'
import json
from pathlib import Path
from label_efficiency_summary import read_cells
old = {(c["seed"], c["method"]): c for c in json.load(open("results/label_efficiency_pn_avx2_d3000.json"))["cells"]
       if c["run"] == "le-pn-s2-avx2d3000" and c["budget"] == "5"}
for new in read_cells(Path("runs/le-pn-s2-avx2d3000r5"), budgets=["5"]):
    seed, m = new["seed"], new["method"]; o = old[(seed, m)]
    print(f"seed {seed} {m:12s} F1 {new['f1']:.4f} (17th {o['f1']:.4f})  AUC {new['auc']:.4f} (17th {o['auc']:.4f})  "
          f"{'identical' if abs(new['f1'] - o['f1']) < 1e-9 and abs(new['auc'] - o['auc']) < 1e-9 else 'DIFFERENT'}")
PYEOF
