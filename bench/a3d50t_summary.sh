#!/bin/bash
# Issue 13, fiftieth session (BENCHMARKS "Issue 13: fiftieth session"; pre-registered): AdrenalMNIST3D at 5 labels per
# class, `fuse_ens` (the top-5 probe ensembles of two DDPMs and the small CNN of the same head seed, class
# probabilities averaged, 1/3 each) on the augmented pair a3d50aug-s{7,8}, on the runs of bench/a3d50t.sh, per draw
# set D1 (head seeds 60-65) and D2 (66-71): against the ResNet-18 3D (primary: margins >= +0.05 on both metrics), the
# CNN pair `fuse_rn_sc` (attribution a) and the same fusion on two random-init U-Nets (attribution b; intervals above
# 0). Descriptive: the unaugmented pair a3d27-s{7,8} on the same draws, augmented minus unaugmented. `medfx fuse` for
# the fusions (pseudo runs runs/fuse50-*, replaced on every call), `medfx compare` for the paired rows. With the
# repository's medfx (MEDFX_SRC unset):   cd bench && bash a3d50t_summary.sh > results/a3d50t.txt
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
MEDFX=${MEDFX:-$PY -m medfx}
source fuse_lib.sh   # mpair_fusions, mfuse
a=runs/le-a3d-s7-d50taug b=runs/le-a3d-s8-d50taug u=runs/le-a3d-s7-d50t v=runs/le-a3d-s8-d50t
r0=runs/le-a3d-random-d50tr0 r1=runs/le-a3d-random-d50tr1
c() { $MEDFX compare "$@" --budgets 5 --seeds $s --metrics f1 auc; }   # $s: the draw set (loop below)
for d in D1 D2; do
  if [ $d = D1 ]; then s="60 61 62 63 64 65" cn=runs/le-a3d-baselines-d50td1; else
    s="66 67 68 69 70 71" cn=runs/le-a3d-baselines-d50td2; fi
  T=runs/fuse50-$d U=runs/fuse50-$d-unaug
  echo "## AdrenalMNIST3D 28^3, draw set $d (head seeds $s), 5 labels per class, augmented DDPM pair $a $b"
  echo "# check: the subsets of every run equal those of the first (on the cells both have)"
  $PY same_subsets.py --shared "$a" "$b" "$u" "$v" "$r0" "$r1" "$cn"
  mpair_fusions "$T" "$s" "$a" "$b" "$r0" "$cn" "$r1"
  mfuse "$U-ens" fuse_ens "$s" linear_topk@"$u" linear_topk@"$v" small_cnn@"$cn"
  echo "# (primary) fuse_ens minus the ResNet-18 3D"
  c fuse_ens@"$T-ens" --against resnet18@"$cn"
  echo "# (attribution a) fuse_ens minus the CNN pair fuse_rn_sc"
  c fuse_ens@"$T-ens" --against fuse_rn_sc@"$T-rnsc"
  echo "# (attribution b) fuse_ens minus the same fusion on the two random-init U-Nets"
  c fuse_ens@"$T-ens" --against fuse_ens@"$T-random"
  echo "# (descriptive) the unaugmented pair's fuse_ens minus the ResNet-18 3D; augmented minus unaugmented"
  c fuse_ens@"$U-ens" --against resnet18@"$cn"
  c fuse_ens@"$T-ens" --against fuse_ens@"$U-ens"
  echo "# (descriptive) the probes, the small CNN and the CNN pair minus the ResNet-18 3D"
  c linear_topk@"$a,$b" --against resnet18@"$cn"
  c linear_topk@"$u,$v" --against resnet18@"$cn"
  c small_cnn@"$cn" --against resnet18@"$cn"
  c fuse_rn_sc@"$T-rnsc" --against resnet18@"$cn"
  echo "# mean +- sd over cells: method (runs), cells, macro-F1, AUC"
  $PY step_table.py 5 "$s" "" "$T-ens:fuse_ens" "$U-ens:fuse_ens" "$T-random:fuse_ens" "$a,$b:linear_topk" \
    "$u,$v:linear_topk" "$cn:small_cnn" "$cn:resnet18" "$T-rnsc:fuse_rn_sc"
done
