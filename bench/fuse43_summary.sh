#!/bin/bash
# Issue 13, forty-third session (BENCHMARKS "Issue 13: forty-third session"): the pre-registered test of `fuse_ens` (the
# top-5 probe ensembles of two DDPMs and the small CNN of the same head seed, class probabilities averaged, 1/3 each;
# bench/fuse_cells.py) on AdrenalMNIST3D at 5 labels per class, draw sets D1 (head seeds 24-29) and D2 (30-35) of
# bench/a3d43.sh, against the ResNet-18 3D, the CNN pair and the same fusion on two random-init U-Nets. The fused
# cells are written as pseudo run directories runs/fuse43-* (rebuilt on every call). Paired bootstrap over the test
# volumes (bench/paired_methods.py). Needs the repository's medfx (fuse_predictions), not the runs' frozen copy:
#   cd bench && bash fuse43_summary.sh > results/fuse43_paired.txt
#   cd bench && bash fuse43_summary.sh pair56 > results/fuse43_pair56.txt   (secondary: the new DDPMs a3d27-s{5,6})
#   cd bench && bash fuse43_summary.sh read > results/fuse43_read.txt       (descriptive: the exploration's draws,
#                                                                            head seeds 12-23, with attribution (b))
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
source fuse_lib.sh   # have, fuse, pm
SFX=${1:-}; [ "$SFX" = b10 ] || SFX=""   # the b10 addition's pseudo runs get their own names
D1="24 25 26 27 28 29"; D2="30 31 32 33 34 35"
B=5; DSETS="D1 D2"; X=d43   # the budget, the draw sets and the runs' suffix (the b10 addition: 10, D1, d43b10)
if [ "${1:-}" = b10 ]; then B=10; DSETS=D1; X=d43b10; fi
SC=runs/le-a3d-baselines-${X}sc R0=runs/le-a3d-random-${X}r0 R1=runs/le-a3d-random-${X}r1
mapfile -t RN < <(have runs/le-a3d-baselines-${X}rn24a runs/le-a3d-baselines-${X}rn24b runs/le-a3d-baselines-${X}rn30a \
  runs/le-a3d-baselines-${X}rn30b)
# means TAG SEEDS RUN:METHOD...: mean +- sd over those head seeds' cells at budget $B
means() { $PY step_table.py "$B" "$2" "$1" "${@:3}"; }
# ensemble TAG "DDPM RUN A" "DDPM RUN B": fuse_ens of those two DDPMs' probes and the small CNN; the primary table
ensemble() {
  local tag=$1 a=$2 b=$3 s i
  fuse runs/fuse43-$tag-ens "$a" linear_topk fuse_ens linear_topk "$b" small_cnn "$SC"
  fuse runs/fuse43-$tag-ens2 "$a" linear_topk ens_topk linear_topk "$b"
  fuse runs/fuse43-$tag-1-topk "$a" linear_topk fuse_topk_sc small_cnn "$SC"
  fuse runs/fuse43-$tag-2-topk "$b" linear_topk fuse_topk_sc small_cnn "$SC"
  for d in $DSETS; do
    s=${!d}
    echo "## $tag, draw set $d (head seeds $s), $B labels per class"
    echo "# (primary) fuse_ens minus the ResNet-18 3D"
    pm --budget $B --seeds $s --runs runs/fuse43-$tag-ens --ref resnet18 --ref-runs "${RN[@]}" --methods fuse_ens
    echo "# (attribution a) fuse_ens minus the CNN pair fuse_rn_sc"
    pm --budget $B --seeds $s --runs runs/fuse43-$tag-ens --ref fuse_rn_sc --ref-runs "${FRN[@]}" --methods fuse_ens
    echo "# (attribution b) fuse_ens on the trained DDPMs minus fuse_ens on the two random-init U-Nets"
    pm --budget $B --seeds $s --runs runs/fuse43-$tag-ens --against-runs runs/fuse43-random-ens$SFX --methods fuse_ens
    echo "# (secondary) fuse_ens minus the two-way fusion fuse_topk_sc (both DDPMs' cells)"
    pm --budget $B --seeds $s --runs runs/fuse43-$tag-ens --ref fuse_topk_sc \
      --ref-runs runs/fuse43-$tag-1-topk runs/fuse43-$tag-2-topk --methods fuse_ens
    echo "# (secondary) fuse_ens minus each DDPM's linear_topk (both DDPMs' cells), minus the small CNN"
    pm --budget $B --seeds $s --runs runs/fuse43-$tag-ens --ref linear_topk --ref-runs "$a" "$b" --methods fuse_ens
    pm --budget $B --seeds $s --runs runs/fuse43-$tag-ens --ref small_cnn --ref-runs "$SC" --methods fuse_ens
    echo "# (secondary) the two probe ensembles averaged (no CNN), fuse_topk_sc, the CNN pair, the probes: minus the ResNet-18 3D"
    pm --budget $B --seeds $s --runs runs/fuse43-$tag-ens2 --ref resnet18 --ref-runs "${RN[@]}" --methods ens_topk
    pm --budget $B --seeds $s --runs runs/fuse43-$tag-1-topk runs/fuse43-$tag-2-topk --ref resnet18 \
      --ref-runs "${RN[@]}" --methods fuse_topk_sc
    pm --budget $B --seeds $s --runs "${FRN[@]}" --ref resnet18 --ref-runs "${RN[@]}" --methods fuse_rn_sc
    pm --budget $B --seeds $s --runs "$a" "$b" --ref resnet18 --ref-runs "${RN[@]}" --methods linear_topk
  done
  [ "$DSETS" = "D1 D2" ] || return 0
  echo "## $tag, D1 and D2 pooled (descriptive)"
  pm --budget $B --runs runs/fuse43-$tag-ens --ref resnet18 --ref-runs "${RN[@]}" --methods fuse_ens
  pm --budget $B --runs runs/fuse43-$tag-ens --ref fuse_rn_sc --ref-runs "${FRN[@]}" --methods fuse_ens
  pm --budget $B --runs runs/fuse43-$tag-ens --against-runs runs/fuse43-random-ens$SFX --methods fuse_ens
  echo "# mean +- sd over cells at 5 labels: draw set, method (first run), cells, macro-F1, AUC"
  for d in D1 D2; do
    means "$d" "${!d}" runs/fuse43-$tag-ens:fuse_ens runs/fuse43-random-ens$SFX:fuse_ens runs/fuse43-$tag-ens2:ens_topk \
      "runs/fuse43-$tag-1-topk,runs/fuse43-$tag-2-topk:fuse_topk_sc" "$a,$b:linear_topk" "$SC:small_cnn" \
      "$(IFS=,; echo "${RN[*]}"):resnet18" "$(IFS=,; echo "${FRN[*]}"):fuse_rn_sc"
  done
}
common() {  # the CNN pair and the random-init fusion, shared by every table
  echo "# check: the subsets of every run equal those of the first (on the cells both have)"
  $PY same_subsets.py --shared runs/le-a3d-s3-$X "$@" "${RN[@]}" "$SC" "$R0" "$R1"
  FRN=(); i=0
  for r in "${RN[@]}"; do
    i=$((i + 1)); fuse runs/fuse43-rnsc$SFX$i "$r" resnet18 fuse_rn_sc small_cnn "$SC"; FRN+=(runs/fuse43-rnsc$SFX$i)
  done
  fuse runs/fuse43-random-ens$SFX "$R0" linear_topk fuse_ens linear_topk "$R1" small_cnn "$SC"
}
case "${1:-primary}" in
  primary) common runs/le-a3d-s4-d43; ensemble s34 runs/le-a3d-s3-d43 runs/le-a3d-s4-d43 ;;
  pair56) common runs/le-a3d-s5-d43 runs/le-a3d-s6-d43; ensemble s56 runs/le-a3d-s5-d43 runs/le-a3d-s6-d43 ;;
  b10)  # declared addition (descriptive): 10 labels per class, D1, both DDPM pairs (bench/a3d43b.sh)
    common runs/le-a3d-s{4,5,6}-d43b10
    ensemble s34b10 runs/le-a3d-s3-d43b10 runs/le-a3d-s4-d43b10
    ensemble s56b10 runs/le-a3d-s5-d43b10 runs/le-a3d-s6-d43b10 ;;
  read)  # the exploration's draws (head seeds 12-17: fortieth session's runs; 18-23: forty-first's), descriptive
    echo "# check: the subsets of every run equal those of the first (on the cells both have)"
    $PY same_subsets.py --shared runs/le-a3d-random-d43r1 runs/le-a3d-s3-d40 runs/le-a3d-s3-d41s18
    fuse runs/fuse43-read-ens runs/le-a3d-s3-d40 linear_topk fuse_ens linear_topk runs/le-a3d-s4-d40 small_cnn \
      runs/le-a3d-baselines-d40small
    fuse runs/fuse43-read18-ens runs/le-a3d-s3-d41s18 linear_topk fuse_ens linear_topk runs/le-a3d-s4-d41s18 small_cnn \
      runs/le-a3d-baselines-d41sc18
    fuse runs/fuse43-read-rens runs/le-a3d-random-d43r1 linear_topk fuse_ens linear_topk \
      "runs/le-a3d-random-d40r0 runs/le-a3d-random-d41rs18" small_cnn "runs/le-a3d-baselines-d40small runs/le-a3d-baselines-d41sc18"
    for s in "12 13 14 15 16 17" "18 19 20 21 22 23"; do
      echo "## head seeds $s: fuse_ens minus the ResNet-18 3D; minus fuse_ens on the two random-init U-Nets"
      pm --budget 5 --seeds $s --runs runs/fuse43-read-ens runs/fuse43-read18-ens --ref resnet18 \
        --ref-runs runs/le-a3d-baselines-d40rn1{2..7} runs/le-a3d-baselines-d41rn18{a,b} --methods fuse_ens
      pm --budget 5 --seeds $s --runs runs/fuse43-read-ens runs/fuse43-read18-ens --against-runs runs/fuse43-read-rens \
        --methods fuse_ens
    done ;;
  *) echo "usage: $0 [primary|pair56|read|b10]" >&2; exit 2 ;;
esac
