#!/bin/bash
# Issue 13, forty-eighth session (BENCHMARKS "Issue 13: forty-eighth session"; pre-registered): the two-DDPM late
# fusion `fuse_ens` at 5 labels per class on two new draw sets (D5: head seeds 48-53, D6: 54-59) on the runs of
# bench/ens48.sh, per dataset (PneumoniaMNIST on pn46-s{9,10}, brain MRI on b64-s{9,10}) and per draw set:
# (primary) minus the ResNet-18; (attribution a) minus the CNN pair `fuse_rn_sc`; (attribution b) minus the same
# three-way fusion on the two random-init U-Nets (`fuse_ens` of le-DS-random-d48 and le-DS-random-d48r1 + the small
# CNN). Descriptive: each DDPM's `fuse_topk_sc` (the earlier method) minus the ResNet-18. Package commands only
# (`medfx fuse`, `medfx compare`). With the repository's medfx (MEDFX_SRC unset):
#   cd bench && bash ens48_summary.sh > results/ens48.txt
# `bash ens48_summary.sh pair1112 > results/ens48_pair1112.txt`: the declared DDPM-pair check, PneumoniaMNIST only,
# fuse_ens on pn46-s{11,12} (le-pn-s{11,12}-d48) against the same CNN and random-init cells (pseudo runs
# runs/ens48-pn1112-*)
set -euo pipefail
case "${1:-}" in
  "") sets="pn b64" A=9 B=10 tag="" ;;
  pair1112) sets=pn A=11 B=12 tag=1112 ;;
  *) echo "usage: $0 [pair1112]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
MEDFX=${MEDFX:-$PY -m medfx}
source fuse_lib.sh   # mpair_fusions
for ds in $sets; do
  a=runs/le-$ds-s$A-d48 b=runs/le-$ds-s$B-d48 cn=runs/le-$ds-baselines-d48
  r0=runs/le-$ds-random-d48 r1=runs/le-$ds-random-d48r1
  echo "## $ds, 5 labels per class, DDPM runs $a $b, CNNs $cn, random-init U-Nets $r0 $r1"
  echo "# check: the subsets of every run equal those of the first (on the cells both have)"
  $PY same_subsets.py --shared "$a" "$b" "$cn" "$r0" "$r1"
  for d in "D5:48 49 50 51 52 53" "D6:54 55 56 57 58 59"; do
    name=${d%%:*} s=${d#*:} T=runs/ens48-$ds$tag-${d%%:*}
    mpair_fusions "$T" "$s" "$a" "$b" "$r0" "$cn" "$r1"
    echo "# $ds $name (head seeds $s): (primary) fuse_ens minus the ResNet-18"
    $MEDFX compare fuse_ens@"$T-ens" --against resnet18@"$cn" --budgets 5 --seeds $s --metrics f1 auc
    echo "# $ds $name: (attribution a) minus the CNN pair fuse_rn_sc"
    $MEDFX compare fuse_ens@"$T-ens" --against fuse_rn_sc@"$T-rnsc" --budgets 5 --seeds $s --metrics f1 auc
    echo "# $ds $name: (attribution b) minus fuse_ens on the two random-init U-Nets"
    $MEDFX compare fuse_ens@"$T-ens" --against fuse_ens@"$T-random" --budgets 5 --seeds $s --metrics f1 auc
    echo "# $ds $name: (descriptive) fuse_topk_sc (both DDPMs), linear_topk (both DDPMs), small CNN: minus the ResNet-18"
    $MEDFX compare fuse_topk_sc@"$T-1-topk,$T-2-topk" --against resnet18@"$cn" --budgets 5 --seeds $s --metrics f1 auc
    $MEDFX compare linear_topk@"$a,$b" --against resnet18@"$cn" --budgets 5 --seeds $s --metrics f1 auc
    $MEDFX compare small_cnn@"$cn" --against resnet18@"$cn" --budgets 5 --seeds $s --metrics f1 auc
    echo "# $ds $name: mean +- sd over cells: method (runs), cells, macro-F1, AUC"
    $PY step_table.py 5 "$s" "" "$T-ens:fuse_ens" "$T-random:fuse_ens" "$T-1-topk,$T-2-topk:fuse_topk_sc" \
      "$a,$b:linear_topk" "$cn:small_cnn" "$cn:resnet18" "$T-rnsc:fuse_rn_sc"
  done
done
