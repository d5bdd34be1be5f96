#!/bin/bash
# Issue 13, forty-seventh session (BENCHMARKS "Issue 13: forty-seventh session"; pre-registered): brain MRI 64^2 at 5
# labels per class, the forty-first session's late fusion `fuse_topk_sc` (one DDPM's top-5 probe ensemble averaged
# with the small CNN of the same head seed; 12 cells = 2 DDPMs x 6 head seeds) on the runs of bench/b64_47.sh (two new
# DDPMs b64-s{9,10}, head seeds 42-47, everything trained from scratch), against the ResNet-18 (primary), the CNN pair
# `fuse_rn_sc` (ResNet-18 + small CNN) and the same fusion on the random-init U-Net (attribution). `fuse_ens`, the
# probes and the CNNs: descriptive. Package commands only: `medfx fuse` for the fusions (pseudo runs runs/fuse47-*,
# replaced on every call) and `medfx compare` for the paired rows. With the repository's medfx (MEDFX_SRC unset):
#   cd bench && bash b64_47_summary.sh > results/b64_47.txt
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
MEDFX=${MEDFX:-$PY -m medfx}
source fuse_lib.sh   # mpair_fusions
s="42 43 44 45 46 47" T=runs/fuse47
a=runs/le-b64-s9-d47 b=runs/le-b64-s10-d47 cn=runs/le-b64-baselines-d47 rand=runs/le-b64-random-d47
echo "## brain MRI 64^2 (de-duplicated), head seeds $s, 5 labels per class, DDPM runs $a $b (from scratch)"
echo "# check: the subsets of every run equal those of the first (on the cells both have)"
$PY same_subsets.py --shared "$a" "$b" "$cn" "$rand"
mpair_fusions "$T" "$s" "$a" "$b" "$rand" "$cn"
f="fuse_topk_sc@$T-1-topk,$T-2-topk"
echo "# (primary) fuse_topk_sc (both DDPMs) minus the ResNet-18"
$MEDFX compare "$f" --against resnet18@"$cn" --budgets 5 --metrics f1 auc
echo "# (attribution a) minus the CNN pair fuse_rn_sc"
$MEDFX compare "$f" --against fuse_rn_sc@"$T-rnsc" --budgets 5 --metrics f1 auc
echo "# (attribution b) minus the same fusion on the random-init U-Net"
$MEDFX compare "$f" --against fuse_topk_sc@"$T-random" --budgets 5 --metrics f1 auc
echo "# (descriptive) fuse_ens; the probes; the small CNN and the CNN pair: minus the ResNet-18"
$MEDFX compare fuse_ens@"$T-ens" --against resnet18@"$cn" --budgets 5 --metrics f1 auc
for m in linear_topk linear_ks linear_best; do
  $MEDFX compare "$m@$a,$b" --against resnet18@"$cn" --budgets 5 --metrics f1 auc
done
$MEDFX compare small_cnn@"$cn" --against resnet18@"$cn" --budgets 5 --metrics f1 auc
$MEDFX compare fuse_rn_sc@"$T-rnsc" --against resnet18@"$cn" --budgets 5 --metrics f1 auc
echo "# mean +- sd over cells: method (runs), cells, macro-F1, AUC"
$PY step_table.py 5 "$s" "" "$T-1-topk,$T-2-topk:fuse_topk_sc" "$T-random:fuse_topk_sc" "$T-ens:fuse_ens" \
  "$a,$b:linear_topk" "$cn:small_cnn" "$cn:resnet18" "$T-rnsc:fuse_rn_sc"
