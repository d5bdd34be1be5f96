#!/bin/bash
# PneumoniaMNIST on the AVX2 machine (BENCHMARKS "Issue 13: seventeenth session" and "eighteenth session"): three
# fp32 DDPMs (seeds 2, 3, 4; 3000-step checkpoints) against the CNNs of le-pn-baselines-avx2*, same subsets and seeds.
# Needs the run directories of those sessions (bench/runs/le-pn-*-avx2*). Writes the JSON tables and the figure and
# prints every paired comparison (kept in bench/results/pn_avx2_d3000_s234_paired.txt).
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
R=runs
ddpms() { echo $R/le-pn-s{2,3,4}-avx2d3000${1:-}; }  # ddpms SUFFIX: the three DDPMs' run directories of one harness
D=$(ddpms); D50=$(ddpms b50)
B=$R/le-pn-baselines-avx2; B50=$R/le-pn-baselines-avx2b50
$PY label_efficiency_summary.py --runs $B $D $B50 $D50 --control $R/le-pn-random-avx2 --budgets 5 10 25 50 \
  --title "PneumoniaMNIST 28x28, three fp32 DDPMs (3000 steps, AVX2 CPU)" --ddpm "3000-step fp32 DDPMs (seeds 2, 3, 4)" \
  --out results/label_efficiency_pn_avx2_d3000_s234.json --png ../docs/img/label_efficiency_pneumonia28_avx2_d3000_s234.png
echo "######## PRIMARY (pre-registered): budget 5, three DDPMs vs ResNet-18"
$PY paired_methods.py --budget 5 --runs $D --ref resnet18 --ref-runs $B
echo "######## secondary 1: the new DDPM (seed 4) alone vs ResNet-18"
$PY paired_methods.py --budget 5 --runs $R/le-pn-s4-avx2d3000 --ref resnet18 --ref-runs $B
for b in 5 10 25; do
  for ref in resnet18 small_cnn dcube_cnn; do
    [ $b = 5 ] && [ $ref = resnet18 ] && continue
    echo "== budget $b vs $ref"; $PY paired_methods.py --budget $b --runs $D --ref $ref --ref-runs $B
  done
done
for ref in resnet18 small_cnn dcube_cnn; do
  echo "== budget 50 vs $ref (not pre-registered)"; $PY paired_methods.py --budget 50 --runs $D50 --ref $ref --ref-runs $B50
done
echo "######## secondary 2: head seeds 0-5 at 5 labels"
D6="$D $(ddpms s345)"
B6="$B $R/le-pn-baselines-avx2s345"
for ref in resnet18 small_cnn dcube_cnn; do
  echo "== budget 5 seeds 0-5 vs $ref"; $PY paired_methods.py --budget 5 --runs $D6 --ref $ref --ref-runs $B6
done
$PY label_efficiency_summary.py --runs $B6 $D6 --budgets 5 --title "PneumoniaMNIST 5 labels, head seeds 0-5, three DDPMs" \
  --out results/label_efficiency_pn_avx2_d3000_s234_b5_seeds0to5.json --png "${TMPDIR:-/tmp}/pn_avx2_b5_seeds0to5.png"
echo "######## secondary 3: KS-keys probe per DDPM (mean over head seeds 0-2)"
$PY - <<'PYEOF'
import json, statistics as st
d = json.load(open("results/label_efficiency_pn_avx2_d3000_s234.json"))
for b in ["5", "10", "25", "50"]:
    for s in (2, 3, 4):
        c = [x for x in d["cells"] if x["run"].startswith(f"le-pn-s{s}-avx2d3000") and x["budget"] == b
             and x["method"] == "linear_ks"]
        print(f"budget {b} DDPM seed {s}: {len(c)} cells, macro-F1 {st.mean(x['f1'] for x in c):.3f}, "
              f"AUC {st.mean(x['auc'] for x in c):.3f}")
PYEOF
echo "######## the full D-Cube head (run after the results above were known): 5-25 on the three DDPMs, 50"
DC=$(ddpms dc); DC1025=$(ddpms dc1025); DC50=$(ddpms b50dc)
$PY label_efficiency_summary.py --runs $DC $DC1025 $DC50 --budgets 5 10 25 50 --title "PN full D-Cube head, three DDPMs" \
  --out results/label_efficiency_pn_avx2_d3000_s234_dcube.json --png "${TMPDIR:-/tmp}/pn_avx2_dcube.png"
for b in 5 10 25 50; do
  case $b in 5) X=$DC; F=$D; C=$B ;; 50) X=$DC50; F=$D50; C=$B50 ;; *) X=$DC1025; F=$D; C=$B ;; esac
  echo "== budget $b: full D-Cube head vs D-Cube without image CNN (same DDPMs)"
  $PY paired_methods.py --budget $b --runs $X --methods dcube --ref dcube_feats --ref-runs $F
  for ref in resnet18 dcube_cnn; do
    echo "== budget $b: full D-Cube head vs $ref"; $PY paired_methods.py --budget $b --runs $X --methods dcube --ref $ref --ref-runs $C
  done
done
echo "######## budget all (every label of the 1000-image subsample; run after the results above were known)"
DA=$(ddpms ball)
$PY label_efficiency_summary.py --runs $R/le-pn-baselines-avx2ball $DA --control $R/le-pn-random-avx2ball \
  --budgets all --title "PN budget all, three DDPMs" \
  --out results/label_efficiency_pn_avx2_d3000_s234_all.json --png "${TMPDIR:-/tmp}/pn_avx2_all.png"
for ref in resnet18 small_cnn dcube_cnn; do
  echo "== budget all vs $ref"; $PY paired_methods.py --budget all --runs $DA --ref $ref --ref-runs $R/le-pn-baselines-avx2ball
done
for b in 50 all; do
  echo "== budget $b vs random-init"
  $PY paired_methods.py --budget $b --runs $D50 $DA --against-runs $R/le-pn-random-avx2b50 $R/le-pn-random-avx2ball
done
