#!/bin/bash
# Issue 13, forty-fifth session (BENCHMARKS "Issue 13: forty-fifth session", C): DESCRIPTIVE, post hoc. AdrenalMNIST3D:
# does fusing FOUR DDPMs' top-5 probe ensembles with the small CNN (`medfx fuse`, equal weights 1/5 each; name
# fuse_ens4) close the gap `fuse_ens` (two DDPMs + small CNN, 1/3 each) left on the draw sets where it missed? Every
# cell exists (forty-third and forty-fourth sessions: DDPMs a3d27-s{3,4,5,6}); all these draws' fuse_ens results were
# read before, so nothing here is a test. With the repository's medfx: cd bench && bash fuse45_a3d4.sh > results/fuse45_a3d4.txt
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
MEDFX=${MEDFX:-$PY -m medfx}
source fuse_lib.sh   # mfuse, pm
# budget, draw set, probe-run suffix, ResNet-18 runs, small-CNN run, fuse_ens pseudo run of the earlier summary
CASES=("5 24 d43 d43rn24a,d43rn24b d43sc"
       "5 30 d43 d43rn30a,d43rn30b d43sc"
       "10 24 d43b10 d43b10rn24a,d43b10rn24b d43b10sc"
       "10 30 d44d2 d44d2rna,d44d2rnb d44d2sc"
       "10 36 d44d3 d44d3rna,d44d3rnb d44d3sc")
for c in "${CASES[@]}"; do
  read -r k h x rns sc <<< "$c"
  s="$h $((h + 1)) $((h + 2)) $((h + 3)) $((h + 4)) $((h + 5))"
  IFS=, read -ra rn <<< "$rns"; rn=("${rn[@]/#/runs/le-a3d-baselines-}"); sc=runs/le-a3d-baselines-$sc
  T=runs/fuse45-a3d-k$k-s$h
  echo "## AdrenalMNIST3D, $k labels per class, head seeds $s, probe runs runs/le-a3d-s{3,4,5,6}-$x (descriptive)"
  $PY same_subsets.py --shared runs/le-a3d-s{3,4,5,6}-$x "${rn[@]}" "$sc"
  for p in 34 56; do
    mfuse "$T-ens$p" fuse_ens "$s" linear_topk@runs/le-a3d-s${p:0:1}-$x linear_topk@runs/le-a3d-s${p:1:1}-$x \
      small_cnn@"$sc"
  done
  mfuse "$T-ens4" fuse_ens4 "$s" linear_topk@runs/le-a3d-s{3,4,5,6}-$x small_cnn@"$sc"
  FRN=()
  for i in "${!rn[@]}"; do mfuse "$T-rnsc$i" fuse_rn_sc "$s" resnet18@"${rn[$i]}" small_cnn@"$sc"; FRN+=("$T-rnsc$i"); done
  echo "# fuse_ens4 (four DDPMs + small CNN) and fuse_ens (pair s{3,4}, pair s{5,6}) minus the ResNet-18 3D"
  pm --budget "$k" --seeds $s --runs "$T-ens4" --ref resnet18 --ref-runs "${rn[@]}" --methods fuse_ens4
  pm --budget "$k" --seeds $s --runs "$T-ens34" --ref resnet18 --ref-runs "${rn[@]}" --methods fuse_ens
  pm --budget "$k" --seeds $s --runs "$T-ens56" --ref resnet18 --ref-runs "${rn[@]}" --methods fuse_ens
  echo "# fuse_ens4, then fuse_ens (pair s{3,4}), minus the CNN pair fuse_rn_sc (ResNet-18 3D + small CNN)"
  pm --budget "$k" --seeds $s --runs "$T-ens4" --ref fuse_rn_sc --ref-runs "${FRN[@]}" --methods fuse_ens4
  pm --budget "$k" --seeds $s --runs "$T-ens34" --ref fuse_rn_sc --ref-runs "${FRN[@]}" --methods fuse_ens
done
