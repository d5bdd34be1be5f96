#!/bin/bash
# Issue 13, forty-fourth session (BENCHMARKS "Issue 13: forty-fourth session"; pre-registered): `fuse_ens` (the top-5
# probe ensembles of two DDPMs and the small CNN of the same head seed, class probabilities averaged, 1/3 each) at 10
# labels per class, against the ResNet-18, the CNN pair (ResNet-18 + small CNN) and the same fusion on two random-init
# U-Nets; paired bootstrap over the test images (bench/paired_methods.py). Pseudo run directories runs/fuse44-* are
# rebuilt on every call. With the repository's medfx (MEDFX_SRC unset), from bench/:
#   bash fuse44_summary.sh a3d > results/fuse44_paired.txt           AdrenalMNIST3D, draw sets D2 (head seeds 30-35)
#   bash fuse44_summary.sh a3d pair56 > results/fuse44_pair56.txt    and D3 (36-41) of bench/a3d44.sh; DDPM pair
#                                                                    a3d27-s{3,4} (primary), s{5,6} (secondary)
#   bash fuse44_summary.sh pn > results/fuse44_pn.txt                PneumoniaMNIST, head seeds 30-35 and 36-41 of
#   bash fuse44_summary.sh pn pair78 > results/fuse44_pn78.txt       bench/pn44.sh; pair pn36-s{5,6} (primary), s{7,8}
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
source fuse_lib.sh   # have, fuse, qfuse, pm
DS=${1:-a3d}
case "$DS ${2:-primary}" in
  "a3d primary") A=3 B=4 ;;
  "a3d pair56") A=5 B=6 ;;
  "pn primary") A=5 B=6 ;;
  "pn pair78") A=7 B=8 ;;
  *) echo "usage: $0 a3d [primary|pair56] | pn [primary|pair78]" >&2; exit 2 ;;
esac
declare -A SEEDS=([d2]="30 31 32 33 34 35" [d3]="36 37 38 39 40 41" [s30]="30 31 32 33 34 35" [s36]="36 37 38 39 40 41")
SETS="d2 d3"; [ "$DS" = pn ] && SETS="s30 s36"
for set in $SETS; do
  s=${SEEDS[$set]}
  if [ "$DS" = a3d ]; then  # one group of runs per draw set
    X=d44$set
    a=runs/le-a3d-s$A-$X b=runs/le-a3d-s$B-$X sc=runs/le-a3d-baselines-${X}sc
    r0=runs/le-a3d-random-${X}r0 r1=runs/le-a3d-random-${X}r1
    mapfile -t RN < <(have runs/le-a3d-baselines-${X}rna runs/le-a3d-baselines-${X}rnb)
  else  # the probe runs hold both draw sets; the CNN runs (ResNet-18 and small CNN) one each
    a=runs/le-pn-s$A-d44 b=runs/le-pn-s$B-d44 sc=runs/le-pn-baselines-d44$set
    r0=runs/le-pn-random-d44r0 r1=runs/le-pn-random-d44r1
    mapfile -t RN < <(have "$sc")
  fi
  echo "## $DS, draw set ${set^^} (head seeds $s), 10 labels per class, DDPM pair s{$A,$B}"
  echo "# check: the subsets of every run equal those of the first (on the cells both have)"
  $PY same_subsets.py --shared "$a" "$b" "$sc" "$r0" "$r1" "${RN[@]}"
  T=runs/fuse44-$DS-$set-s$A$B FRN=()
  qfuse "$T-ens" "$a" linear_topk fuse_ens linear_topk "$b" small_cnn "$sc"
  qfuse "$T-random-ens" "$r0" linear_topk fuse_ens linear_topk "$r1" small_cnn "$sc"
  qfuse "$T-1-topk" "$a" linear_topk fuse_topk_sc small_cnn "$sc"
  qfuse "$T-2-topk" "$b" linear_topk fuse_topk_sc small_cnn "$sc"
  for i in "${!RN[@]}"; do qfuse "$T-rnsc$i" "${RN[$i]}" resnet18 fuse_rn_sc small_cnn "$sc"; FRN+=("$T-rnsc$i"); done
  echo "# (primary) fuse_ens minus the ResNet-18"
  pm --budget 10 --seeds $s --runs "$T-ens" --ref resnet18 --ref-runs "${RN[@]}" --methods fuse_ens
  echo "# (attribution a) fuse_ens minus the CNN pair fuse_rn_sc"
  pm --budget 10 --seeds $s --runs "$T-ens" --ref fuse_rn_sc --ref-runs "${FRN[@]}" --methods fuse_ens
  echo "# (attribution b) fuse_ens on the trained DDPMs minus fuse_ens on the two random-init U-Nets"
  pm --budget 10 --seeds $s --runs "$T-ens" --against-runs "$T-random-ens" --methods fuse_ens
  echo "# (secondary) fuse_ens minus one DDPM's fusion fuse_topk_sc (both DDPMs' cells), minus the small CNN"
  pm --budget 10 --seeds $s --runs "$T-ens" --ref fuse_topk_sc --ref-runs "$T-1-topk" "$T-2-topk" --methods fuse_ens
  pm --budget 10 --seeds $s --runs "$T-ens" --ref small_cnn --ref-runs "$sc" --methods fuse_ens
  echo "# (secondary) the CNN pair, the small CNN, each DDPM's linear_topk: minus the ResNet-18"
  pm --budget 10 --seeds $s --runs "${FRN[@]}" --ref resnet18 --ref-runs "${RN[@]}" --methods fuse_rn_sc
  pm --budget 10 --seeds $s --runs "$sc" --ref resnet18 --ref-runs "${RN[@]}" --methods small_cnn
  pm --budget 10 --seeds $s --runs "$a" "$b" --ref resnet18 --ref-runs "${RN[@]}" --methods linear_topk
  echo "# mean +- sd over cells: method (runs), cells, macro-F1, AUC"
  $PY step_table.py 10 "$s" "" "$T-ens:fuse_ens" "$T-random-ens:fuse_ens" "$a,$b:linear_topk" "$sc:small_cnn" \
    "$(IFS=,; echo "${RN[*]}"):resnet18" "$(IFS=,; echo "${FRN[*]}"):fuse_rn_sc"
done
