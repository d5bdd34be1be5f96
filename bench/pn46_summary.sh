#!/bin/bash
# Issue 13, forty-sixth session (BENCHMARKS "Issue 13: forty-sixth session"; pre-registered): PneumoniaMNIST at 5
# labels per class, the forty-first session's late fusion `fuse_topk_sc` (one DDPM's top-5 probe ensemble averaged with
# the small CNN of the same head seed; 12 cells = 2 DDPMs x 6 head seeds) on the runs of bench/pn46.sh (two new DDPMs
# pn46-s{9,10}, head seeds 42-47, everything trained from scratch), against the ResNet-18 (primary), the CNN pair
# `fuse_rn_sc` (ResNet-18 + small CNN) and the same fusion on the random-init U-Net (attribution). 10 labels and
# `fuse_ens`: descriptive. Fusions by `medfx fuse` (pseudo runs runs/fuse46-*, replaced on every call). With the
# repository's medfx (MEDFX_SRC unset): cd bench && bash pn46_summary.sh > results/pn46.txt
# `bash pn46_summary.sh pair1112 > results/pn46_pair1112.txt`: the same on a second new pair pn46-s{11,12} (secondary
# DDPM-pair check; `bash pn46.sh ddpm 11`, `probes 11` and the same for 12), against the same CNN and random-init cells
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
MEDFX=${MEDFX:-$PY -m medfx}
source fuse_lib.sh   # mpair_fusions, pm
s="42 43 44 45 46 47"
case "${1:-pair910}" in
  pair910) A=9 B=10 T=runs/fuse46 ;;
  pair1112) A=11 B=12 T=runs/fuse46-pair1112 ;;
  *) echo "usage: $0 [pair910|pair1112]" >&2; exit 2 ;;
esac
a=runs/le-pn-s$A-d46 b=runs/le-pn-s$B-d46 cn=runs/le-pn-baselines-d46 rand=runs/le-pn-random-d46
echo "## PneumoniaMNIST 28^2, head seeds $s, DDPM runs $a $b (from scratch)"
echo "# check: the subsets of every run equal those of the first (on the cells both have)"
$PY same_subsets.py --shared "$a" "$b" "$cn" "$rand"
mpair_fusions "$T" "$s" "$a" "$b" "$rand" "$cn"
for k in 5 10; do
  what="(primary)"; [ "$k" = 5 ] || what="(descriptive, 10 labels)"
  echo "## $k labels per class"
  echo "# $what fuse_topk_sc (both DDPMs) minus the ResNet-18"
  pm --budget $k --seeds $s --runs "$T-1-topk" "$T-2-topk" --ref resnet18 --ref-runs "$cn" --methods fuse_topk_sc
  echo "# (attribution a) minus the CNN pair fuse_rn_sc"
  pm --budget $k --seeds $s --runs "$T-1-topk" "$T-2-topk" --ref fuse_rn_sc --ref-runs "$T-rnsc" --methods fuse_topk_sc
  echo "# (attribution b) minus the same fusion on the random-init U-Net"
  pm --budget $k --seeds $s --runs "$T-1-topk" "$T-2-topk" --against-runs "$T-random" --methods fuse_topk_sc
  echo "# (descriptive) fuse_ens; the probes; the small CNN and the CNN pair: minus the ResNet-18"
  pm --budget $k --seeds $s --runs "$T-ens" --ref resnet18 --ref-runs "$cn" --methods fuse_ens
  pm --budget $k --seeds $s --runs "$a" "$b" --ref resnet18 --ref-runs "$cn" --methods linear_topk linear_ks linear_best
  pm --budget $k --seeds $s --runs "$cn" --ref resnet18 --ref-runs "$cn" --methods small_cnn
  pm --budget $k --seeds $s --runs "$T-rnsc" --ref resnet18 --ref-runs "$cn" --methods fuse_rn_sc
  echo "# mean +- sd over cells: method (runs), cells, macro-F1, AUC"
  $PY step_table.py $k "$s" "" "$T-1-topk,$T-2-topk:fuse_topk_sc" "$T-random:fuse_topk_sc" "$T-ens:fuse_ens" \
    "$a,$b:linear_topk" "$cn:small_cnn" "$cn:resnet18" "$T-rnsc:fuse_rn_sc"
done
