#!/bin/bash
# AdrenalMNIST3D 28^3, thirty-third session (BENCHMARKS "Issue 13: thirty-third session"; runs of bench/a3d33.sh):
# D-Cube without its image CNN (dcube_feats) z-scored and unmirrored (std), LayerNorm unmirrored (nf), against the
# thirty-second session's cells (LayerNorm, mirrored: v0), on the two trained DDPMs and the two random U-Nets.
#   bash bench/a3d33_summary.sh > bench/results/a3d33_paired.txt    table results/label_efficiency_a3d33.json
#   bash bench/a3d33_summary.sh full > bench/results/a3d33_full_paired.txt   declared addition: the full D-Cube head
#        z-scored (runs -d33fullstd, -d33fullstd50); table results/label_efficiency_a3d33_full.json
#   bash bench/a3d33_summary.sh cats > bench/results/a3d33_cats_paired.txt   third declared addition: the CATS-like
#        head z-scored (runs -d33catsstd); table results/label_efficiency_a3d33_cats.json
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
T=${TMPDIR:-/tmp}
# v0: the thirty-second session's dcube_feats cells (seeds 0-2: d30few at 5/10, d32cheap at 25/50; 3-5: d32s345*)
V0=(runs/le-a3d-s{0,1}-d30few runs/le-a3d-s{0,1}-d32cheap runs/le-a3d-s{0,1}-d32s345 runs/le-a3d-s{0,1}-d32s345b25)
V0R=(runs/le-a3d-random-d32r0cheap runs/le-a3d-random-d32r0s345 runs/le-a3d-random-d32r0s345b25
     runs/le-a3d-random-d32r1a runs/le-a3d-random-d32r1b runs/le-a3d-random-d32r1s345 runs/le-a3d-random-d32r1s345b25)
STD=(runs/le-a3d-s{0,1}-d33std) STDR=(runs/le-a3d-random-d33r{0,1}std)
NF=(runs/le-a3d-s{0,1}-d33nf) NFR=(runs/le-a3d-random-d33r{0,1}nf)
PROBES=(runs/le-a3d-s{0,1}-d30few runs/le-a3d-s{0,1}-d32cheap runs/le-a3d-s{0,1}-d32s345 runs/le-a3d-s{0,1}-d32s345b25)
vs() {  # vs BUDGET "RUNS" "AGAINST" [ARGS...]: dcube_feats in RUNS minus dcube_feats in AGAINST
  local b=$1 runs=$2 against=$3; shift 3
  $PY paired_methods.py --budget $b --runs $runs --against-runs $against --methods dcube_feats "$@"
}
s50() { [ "$1" = 50 ] && echo "--seeds 0 1 2" || true; }  # v0 has head seeds 0-2 at 50 labels
# the CNNs trained beside the feature heads, per budget (run name stems; head seeds 0-2 in ...{0,1,2})
declare -A RN=([5]="d30rn" [10]="d30rn" [25]="d31rn") SMALL=([5]="d30cnn" [10]="d30cnn" [25]="d31small" [50]="d31b50cnn")
declare -A DCNN=([5]="d30cnn" [10]="d30cnn" [25]="d30b25cnn" [50]="d31b50cnn")
cnns() {  # cnns BUDGET METHOD RUNS...: METHOD minus the ResNet-18 3D (5-25 labels) and the small CNN, head seeds 0-2
  local b=$1 m=$2; shift 2
  if [ -n "${RN[$b]:-}" ]; then
    $PY paired_methods.py --budget $b --runs "$@" --ref resnet18 --ref-runs runs/le-a3d-baselines-${RN[$b]}{0,1,2} --methods $m --seeds 0 1 2
  fi
  $PY paired_methods.py --budget $b --runs "$@" --ref small_cnn --ref-runs runs/le-a3d-baselines-${SMALL[$b]}{0,1,2} --methods $m --seeds 0 1 2
}
table() {  # table NAME TITLE "RUNS" "CONTROL": cell means at 5-50 labels (results/label_efficiency_NAME.json)
  $PY label_efficiency_summary.py --runs $3 --control $4 --budgets 5 10 25 50 --title "$2" \
    --ddpm "2000-step DDPMs a3d27-s{0,1} retrained; control: two random-init U-Nets" \
    --out results/label_efficiency_$1.json --png $T/$1.png
}
if [ "${1:-}" = cats ]; then
  CS=(runs/le-a3d-s{0,1}-d33catsstd) CR=(runs/le-a3d-random-d33r{0,1}catsstd)
  CV0=(runs/le-a3d-s{0,1}-d30few runs/le-a3d-s{0,1}-d32cheap)
  cats() { $PY paired_methods.py --methods cats --seeds 0 1 2 "$@"; }
  for b in 5 10 25 50; do
    echo "# budget $b: (A, primary) CATS-like head z-scored minus its per-channel BatchNorm cells, trained DDPMs"
    cats --budget $b --runs "${CS[@]}" --against-runs "${CV0[@]}"
    echo "# budget $b: (B) CATS-like head z-scored, trained DDPMs minus random U-Nets (both inits)"
    cats --budget $b --runs "${CS[@]}" --against-runs "${CR[@]}"
    echo "# budget $b: (C, the goal) CATS-like head z-scored on the trained DDPMs minus the ResNet-18 3D (5-25) and the small CNN"
    cnns $b cats "${CS[@]}"
  done
  echo "# cell means (table results/label_efficiency_a3d33_cats.json): CATS-like head z-scored on the trained DDPMs, control = on the random U-Nets"
  table a3d33_cats "AdrenalMNIST3D 28^3, the CATS-like head, z-scored (thirty-third session)" "${CS[*]}" "${CR[*]}"
  exit 0
fi
if [ "${1:-}" = full ]; then
  FS=(runs/le-a3d-s{0,1}-d33fullstd runs/le-a3d-s{0,1}-d33fullstd50)
  FR0=(runs/le-a3d-random-d33r0fullstd runs/le-a3d-random-d33r0fullstd50)
  FR1=(runs/le-a3d-random-d33r1fullstd runs/le-a3d-random-d33r1fullstd50)
  FV0=(runs/le-a3d-s{0,1}-d30few runs/le-a3d-s{0,1}-d30b25 runs/le-a3d-s{0,1}-d31b50)
  FV0R=(runs/le-a3d-random-d31ctl01 runs/le-a3d-random-d31ctl2 runs/le-a3d-random-d31ctl5_01
        runs/le-a3d-random-d31ctl5_2 runs/le-a3d-random-d32r1a runs/le-a3d-random-d32r1b)
  full() { $PY paired_methods.py --methods dcube --seeds 0 1 2 "$@"; }
  for b in 5 10 25 50; do
    echo "# budget $b: (A) full head std minus the full head's LayerNorm/mirrored cells, trained DDPMs"
    full --budget $b --runs "${FS[@]}" --against-runs "${FV0[@]}"
    echo "# budget $b: (B, primary) full head std, trained DDPMs minus random U-Nets (both inits); then minus each init"
    full --budget $b --runs "${FS[@]}" --against-runs "${FR0[@]}" "${FR1[@]}"
    full --budget $b --runs "${FS[@]}" --against-runs "${FR0[@]}"
    full --budget $b --runs "${FS[@]}" --against-runs "${FR1[@]}"
    echo "# budget $b: full head std, random U-Net init 1 minus init 0"
    full --budget $b --runs "${FR1[@]}" --against-runs "${FR0[@]}"
    echo "# budget $b: full head std on the random U-Nets minus its LayerNorm/mirrored cells there"
    full --budget $b --runs "${FR0[@]}" "${FR1[@]}" --against-runs "${FV0R[@]}"
    echo "# budget $b: secondary: full head std on the trained DDPMs minus D-Cube's image CNN alone, the ResNet-18 3D, the small CNN"
    full --budget $b --runs "${FS[@]}" --ref dcube_cnn --ref-runs runs/le-a3d-baselines-${DCNN[$b]}{0,1,2}
    cnns $b dcube "${FS[@]}"
  done
  echo "# cell means (table results/label_efficiency_a3d33_full.json): full head std on the trained DDPMs, control = on the random U-Nets"
  table a3d33_full "AdrenalMNIST3D 28^3, the full D-Cube head, z-scored and unmirrored (thirty-third session)" \
    "${FS[*]}" "${FR0[*]} ${FR1[*]}"
  exit 0
fi
echo "# one-class cells of dcube_feats (predicted_classes == 1), per variant and feature source"
$PY - "${V0[@]}" "${V0R[@]}" "${STD[@]}" "${STDR[@]}" "${NF[@]}" "${NFR[@]}" <<'PYEOF'
import json, sys
from collections import Counter
from pathlib import Path
n, one = Counter(), Counter()
for r in map(Path, sys.argv[1:]):
    name = r.name
    var = "std" if name.endswith("std") else "nf" if name.endswith("nf") else "v0"
    src = "DDPM " + name.split("-")[2][1] if "-s" in name[5:10] else ("random init 0" if "r0" in name or "d31" in name
                                                                      else "random init 1")
    for f in sorted(r.glob("budgets/b*/seed*/dcube_feats/metrics.json")):
        k = (var, src, f.parts[-4])
        n[k] += 1
        one[k] += json.loads(f.read_text())["predicted_classes"] == 1
for k in sorted(n):
    print(f"{k[0]}\t{k[1]}\t{k[2]}\t{one[k]} of {n[k]} cells predict one class")
PYEOF
for b in 5 10 25 50; do
  echo "# budget $b: Q1 std minus v0, trained DDPMs (head seeds 0-5; 0-2 at 50)"
  vs $b "${STD[*]}" "${V0[*]}" $(s50 $b)
  echo "# budget $b: Q2 std, trained DDPMs minus random U-Nets (head seeds 0-5)"
  vs $b "${STD[*]}" "${STDR[*]}"
  echo "# budget $b: std, trained DDPMs minus random U-Net init 0, then minus init 1 (added after the results)"
  vs $b "${STD[*]}" runs/le-a3d-random-d33r0std
  vs $b "${STD[*]}" runs/le-a3d-random-d33r1std
  echo "# budget $b: std, random U-Net init 1 minus init 0"
  vs $b runs/le-a3d-random-d33r1std runs/le-a3d-random-d33r0std
  echo "# budget $b: secondary: nf minus v0, trained DDPMs; std minus nf, trained DDPMs; nf trained minus random"
  vs $b "${NF[*]}" "${V0[*]}" $(s50 $b)
  vs $b "${STD[*]}" "${NF[*]}"
  vs $b "${NF[*]}" "${NFR[*]}"
  echo "# budget $b: secondary: std minus v0 on the random U-Nets"
  vs $b "${STDR[*]}" "${V0R[*]}" $(s50 $b)
  echo "# budget $b: secondary: std on the trained DDPMs minus the best-cell probe on the same DDPMs (head seeds 0-5; 0-2 at 50)"
  $PY paired_methods.py --budget $b --runs "${STD[@]}" --ref linear_best --ref-runs "${PROBES[@]}" --methods dcube_feats $(s50 $b)
done
echo "# secondary: std on the trained DDPMs minus the CNNs trained beside them (head seeds 0-2)"
for b in 5 10 25 50; do cnns $b dcube_feats "${STD[@]}"; done
echo "# cell means (table results/label_efficiency_a3d33.json): std on the trained DDPMs, control = std on the random U-Nets"
table a3d33 "AdrenalMNIST3D 28^3, D-Cube without its image CNN, z-scored and unmirrored (thirty-third session)" \
  "${STD[*]}" "${STDR[*]}"
