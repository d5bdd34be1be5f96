#!/bin/bash
# Issue 13, forty-sixth session (BENCHMARKS "Issue 13: forty-sixth session", declared addition; DESCRIPTIVE):
# PneumoniaMNIST at 25 labels per class on the from-scratch draws (head seeds 42-47; cells added by
# `PN46_BUDGETS=[5,10,25] bash bench/pn46.sh probes 9|10|11|12`, `cnns`, `control`), with package commands only:
# `medfx fuse` for the fusions and `medfx compare` for the paired rows. From bench/, with the repository's medfx:
#   bash pn46_b25.sh > results/pn46_b25.txt
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
MEDFX=${MEDFX:-$PY -m medfx}
source fuse_lib.sh   # mfuse
s="42 43 44 45 46 47" cn=runs/le-pn-baselines-d46 rand=runs/le-pn-random-d46 T=runs/fuse46b25
mfuse "$T-rnsc" fuse_rn_sc "$s" resnet18@"$cn" small_cnn@"$cn"
mfuse "$T-random" fuse_topk_sc "$s" linear_topk@"$rand" small_cnn@"$cn"
for p in "9 10" "11 12"; do
  read -r A B <<< "$p"
  for k in $A $B; do mfuse "$T-s$k" fuse_topk_sc "$s" linear_topk@runs/le-pn-s$k-d46 small_cnn@"$cn"; done
  echo "## DDPM pair pn46-s{$A,$B}: fuse_topk_sc minus the ResNet-18, the CNN pair, the random-init fusion; linear_topk minus the ResNet-18"
  f="fuse_topk_sc@$T-s$A,$T-s$B"
  $MEDFX compare "$f" --against resnet18@"$cn" --budgets 25 --metrics f1 auc
  $MEDFX compare "$f" --against fuse_rn_sc@"$T-rnsc" --budgets 25 --metrics f1 auc
  $MEDFX compare "$f" --against fuse_topk_sc@"$T-random" --budgets 25 --metrics f1 auc
  $MEDFX compare "linear_topk@runs/le-pn-s$A-d46,runs/le-pn-s$B-d46" --against resnet18@"$cn" --budgets 25 --metrics f1 auc
done
echo "## the CNNs: small CNN and CNN pair minus the ResNet-18"
$MEDFX compare small_cnn@"$cn" --against resnet18@"$cn" --budgets 25 --metrics f1 auc
$MEDFX compare fuse_rn_sc@"$T-rnsc" --against resnet18@"$cn" --budgets 25 --metrics f1 auc
