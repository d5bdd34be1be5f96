#!/bin/bash
# Issue 13, forty-fourth session (BENCHMARKS "Issue 13: forty-fourth session"; pre-registered): `fuse_ens` (the top-5
# probe ensembles of two 3D DDPMs and the small CNN of the same head seed, class probabilities averaged, 1/3 each) at 10
# labels per class on draw sets D2 (head seeds 30-35) and D3 (36-41) of bench/a3d44.sh, against the ResNet-18 3D, the
# CNN pair (ResNet-18 3D + small CNN) and the same fusion on two random-init U-Nets. Paired bootstrap over the test
# volumes (bench/paired_methods.py). Pseudo run directories runs/fuse44-* are rebuilt on every call. With the
# repository's medfx (MEDFX_SRC unset):
#   cd bench && bash fuse44_summary.sh > results/fuse44_paired.txt         (primary: DDPM pair a3d27-s{3,4})
#   cd bench && bash fuse44_summary.sh pair56 > results/fuse44_pair56.txt  (secondary: the pair a3d27-s{5,6})
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
source fuse_lib.sh   # have, fuse, pm
case "${1:-primary}" in
  primary) A=3 B=4 ;;
  pair56) A=5 B=6 ;;
  *) echo "usage: $0 [primary|pair56]" >&2; exit 2 ;;
esac
declare -A SEEDS=([d2]="30 31 32 33 34 35" [d3]="36 37 38 39 40 41")
for set in d2 d3; do
  X=d44$set s=${SEEDS[$set]}
  a=runs/le-a3d-s$A-$X b=runs/le-a3d-s$B-$X sc=runs/le-a3d-baselines-${X}sc
  r0=runs/le-a3d-random-${X}r0 r1=runs/le-a3d-random-${X}r1
  mapfile -t RN < <(have runs/le-a3d-baselines-${X}rna runs/le-a3d-baselines-${X}rnb)
  echo "## draw set ${set^^} (head seeds $s), 10 labels per class, DDPM pair a3d27-s{$A,$B}"
  echo "# check: the subsets of every run equal those of the first (on the cells both have)"
  $PY same_subsets.py --shared "$a" "$b" "$sc" "$r0" "$r1" "${RN[@]}"
  T=runs/fuse44-$set-s$A$B FRN=()
  fuse "$T-ens" "$a" linear_topk fuse_ens linear_topk "$b" small_cnn "$sc"
  fuse "$T-random-ens" "$r0" linear_topk fuse_ens linear_topk "$r1" small_cnn "$sc"
  fuse "$T-1-topk" "$a" linear_topk fuse_topk_sc small_cnn "$sc"
  fuse "$T-2-topk" "$b" linear_topk fuse_topk_sc small_cnn "$sc"
  for i in "${!RN[@]}"; do fuse "$T-rnsc$i" "${RN[$i]}" resnet18 fuse_rn_sc small_cnn "$sc"; FRN+=("$T-rnsc$i"); done
  echo "# (primary) fuse_ens minus the ResNet-18 3D"
  pm --budget 10 --seeds $s --runs "$T-ens" --ref resnet18 --ref-runs "${RN[@]}" --methods fuse_ens
  echo "# (attribution a) fuse_ens minus the CNN pair fuse_rn_sc"
  pm --budget 10 --seeds $s --runs "$T-ens" --ref fuse_rn_sc --ref-runs "${FRN[@]}" --methods fuse_ens
  echo "# (attribution b) fuse_ens on the trained DDPMs minus fuse_ens on the two random-init U-Nets"
  pm --budget 10 --seeds $s --runs "$T-ens" --against-runs "$T-random-ens" --methods fuse_ens
  echo "# (secondary) fuse_ens minus one DDPM's fusion fuse_topk_sc (both DDPMs' cells), minus the small CNN"
  pm --budget 10 --seeds $s --runs "$T-ens" --ref fuse_topk_sc --ref-runs "$T-1-topk" "$T-2-topk" --methods fuse_ens
  pm --budget 10 --seeds $s --runs "$T-ens" --ref small_cnn --ref-runs "$sc" --methods fuse_ens
  echo "# (secondary) the CNN pair, the small CNN, each DDPM's linear_topk: minus the ResNet-18 3D"
  pm --budget 10 --seeds $s --runs "${FRN[@]}" --ref resnet18 --ref-runs "${RN[@]}" --methods fuse_rn_sc
  pm --budget 10 --seeds $s --runs "$sc" --ref resnet18 --ref-runs "${RN[@]}" --methods small_cnn
  pm --budget 10 --seeds $s --runs "$a" "$b" --ref resnet18 --ref-runs "${RN[@]}" --methods linear_topk
  echo "# mean +- sd over cells: method (runs), cells, macro-F1, AUC"
  $PY - 10 "$s" "$T-ens:fuse_ens" "$T-random-ens:fuse_ens" "$a,$b:linear_topk" "$sc:small_cnn" \
    "$(IFS=,; echo "${RN[*]}"):resnet18" "$(IFS=,; echo "${FRN[*]}"):fuse_rn_sc" <<'PYEOF'
import sys
from pathlib import Path
from step_table import cells, stats
b, seeds, *pairs = sys.argv[1:]
for p in pairs:
    runs, m = p.rsplit(":", 1)
    c = cells(runs.split(","), m, b, seeds.split())
    if len(c) > 1:
        print(f"{m} ({Path(runs.split(',')[0]).name})\t{stats(c)}")
PYEOF
done
