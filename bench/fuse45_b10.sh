#!/bin/bash
# Issue 13, forty-fifth session (BENCHMARKS "Issue 13: forty-fifth session"): DESCRIPTIVE, post hoc. Brain MRI 64^2 at
# 10 labels per class (head seeds 0-5 and 12-17) and 25 (head seeds 0-5): the two-DDPM fusion `fuse_ens` (both DDPMs'
# top-5 probe ensembles + the small CNN of the same head seed, 1/3 each; fixed in the forty-third session) on the
# first DDPM pair b64-s{4,5}. These draw sets' one-DDPM fusion results were read in the forty-first session, so
# nothing here is a test; it says whether a pre-registered test of `fuse_ens` at 10 labels on brain MRI is worth its
# CPU time. No new cell is trained: the ResNet-18, small-CNN, random-init and probe runs are the thirty-ninth and
# forty-first sessions'. With the repository's medfx: cd bench && bash fuse45_b10.sh > results/fuse45_b10.txt
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
source fuse_lib.sh   # pair_fusions, pm
for case in "10 0" "10 12" "25 0"; do
  read -r k h <<< "$case"
  s="$h $((h + 1)) $((h + 2)) $((h + 3)) $((h + 4)) $((h + 5))"
  case "$k $h" in
    "10 0") rn=(runs/le-b64-baselines-d39rn10a runs/le-b64-baselines-d39rn10b) sc=runs/le-b64-baselines-d39sc
            rand=runs/le-b64-random-d41r x=d41 ;;
    "10 12") rn=(runs/le-b64-baselines-d41rn12a runs/le-b64-baselines-d41rn12b) sc=runs/le-b64-baselines-d41sc12
             rand=runs/le-b64-random-d41rs12 x=d41s12 ;;
    "25 0") rn=(runs/le-b64-baselines-d41rn25a runs/le-b64-baselines-d41rn25b) sc=runs/le-b64-baselines-d41sc25
            rand=runs/le-b64-random-d41r x=d41 ;;
  esac
  a=runs/le-b64-s4-$x b=runs/le-b64-s5-$x T=runs/fuse45-b64-k$k-s$h
  echo "## brain MRI 64^2, $k labels per class, head seeds $s, DDPM runs $a $b (descriptive)"
  echo "# check: the subsets of every run equal those of the first (on the cells both have)"
  $PY same_subsets.py --shared "$a" "$b" "${rn[@]}" "$sc" "$rand"
  pair_fusions "$T" "$a" "$b" "$rand" "$sc" "${rn[@]}"   # sets FRN
  echo "# fuse_ens minus the ResNet-18"
  pm --budget "$k" --seeds $s --runs "$T-ens" --ref resnet18 --ref-runs "${rn[@]}" --methods fuse_ens
  echo "# fuse_ens minus the CNN pair fuse_rn_sc"
  pm --budget "$k" --seeds $s --runs "$T-ens" --ref fuse_rn_sc --ref-runs "${FRN[@]}" --methods fuse_ens
  echo "# fuse_ens minus the one-DDPM fusion on the random-init U-Net (one random-init U-Net on brain MRI)"
  pm --budget "$k" --seeds $s --runs "$T-ens" --ref fuse_topk_sc --ref-runs "$T-random" --methods fuse_ens
  echo "# the one-DDPM fusion fuse_topk_sc (both DDPMs' cells) minus the ResNet-18 (the forty-first session's numbers)"
  pm --budget "$k" --seeds $s --runs "$T-1-topk" "$T-2-topk" --ref resnet18 --ref-runs "${rn[@]}" --methods fuse_topk_sc
done
