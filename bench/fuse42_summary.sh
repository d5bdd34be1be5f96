#!/bin/bash
# Issue 13, forty-second session (BENCHMARKS "Issue 13: forty-second session"): the three-way late fusion
# f3 (bench/fuse_cells.py: the class probabilities of linear_topk, the small CNN and the ResNet-18 of the
# same budget and head seed averaged with weights 1/3) against the ResNet-18, the CNN pair (fuse_rn_sc: ResNet-18 +
# small CNN, weights 1/2) and the same three-way fusion on the random-init U-Net, on every draw set of the
# forty-first and forty-second sessions. Pseudo runs runs/fuse42-* (rebuilt on every call); paired bootstrap over the
# test images (bench/paired_methods.py). Needs the repository's medfx (fuse_predictions).
#   cd bench && bash fuse42_summary.sh > results/fuse42_three_paired.txt
#   cd bench && bash fuse42_summary.sh pn12 a3d18   (only those draw sets)
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
source fuse_lib.sh   # have, fuse, pm
# draws TAG "DDPM RUNS" "RESNET RUNS" "SMALL-CNN RUNS" RANDOM_RUN RANDOM_METHOD "BUDGETS"
draws() {
  if [ ${#ONLY[@]} -gt 0 ] && [[ ! " ${ONLY[*]} " == *" $1 "* ]]; then return 0; fi
  local tag=$1 rnd=$5 rm=$6 b r i=0
  local -a ddpm rn sc f3 frn
  read -ra ddpm <<< "$2"; read -ra rn <<< "$3"; read -ra sc <<< "$4"
  mapfile -t rn < <(have "${rn[@]}"); mapfile -t sc < <(have "${sc[@]}")
  echo "## $tag"
  echo "# check: the subsets of every run equal those of the first"
  $PY same_subsets.py "${ddpm[@]}" "${rn[@]}" "${sc[@]}" "$rnd"
  for r in "${ddpm[@]}"; do
    i=$((i + 1))
    fuse runs/fuse42-$tag-$i "$r" "$rm" f3 small_cnn "${sc[*]}" resnet18 "${rn[*]}"; f3+=(runs/fuse42-$tag-$i)
  done
  fuse runs/fuse42-$tag-random "$rnd" "$rm" f3 small_cnn "${sc[*]}" resnet18 "${rn[*]}"
  i=0
  for r in "${rn[@]}"; do  # the CNN pair, one pseudo run per ResNet-18 run
    i=$((i + 1)); fuse runs/fuse42-$tag-rnsc$i "$r" resnet18 fuse_rn_sc small_cnn "${sc[*]}"; frn+=(runs/fuse42-$tag-rnsc$i)
  done
  for b in $7; do
    echo "# budget $b: (primary) the three-way fusion ($rm + small CNN + ResNet-18) minus the ResNet-18"
    pm --budget "$b" --runs "${f3[@]}" --ref resnet18 --ref-runs "${rn[@]}" --methods f3
    echo "# budget $b: (attribution a) the three-way fusion minus the CNN pair fuse_rn_sc"
    pm --budget "$b" --runs "${f3[@]}" --ref fuse_rn_sc --ref-runs "${frn[@]}" --methods f3
    echo "# budget $b: (attribution b) the three-way fusion on the trained DDPMs minus the same on the random-init U-Net"
    pm --budget "$b" --runs "${f3[@]}" --against-runs runs/fuse42-$tag-random --methods f3
    echo "# budget $b: (secondary) the CNN pair minus the ResNet-18"
    pm --budget "$b" --runs "${frn[@]}" --ref resnet18 --ref-runs "${rn[@]}" --methods fuse_rn_sc
  done
  echo "# mean +- sd over cells: budget, method, cells, macro-F1, AUC"
  $PY - "$7" "${f3[*]}" "${frn[*]}" "${rn[*]}" "runs/fuse42-$tag-random" <<'PYEOF'
import sys
from step_table import cells, stats
budgets, f3, frn, rn, frand = sys.argv[1].split(), *[a.split() for a in sys.argv[2:]]
for b in budgets:
    for runs, m, who in ((f3, "f3", "trained"), (frand, "f3", "random-init"), (frn, "fuse_rn_sc", "CNN"),
                         (rn, "resnet18", "CNN")):
        c = cells(runs, m, b)
        if len(c) > 1:
            print(f"{b}\t{m} ({who})\t{stats(c)}")
PYEOF
}
ONLY=("$@")
R=runs
# PneumoniaMNIST: head seeds 0-5 (thirty-eighth session's runs; the random run has linear_ks only, so the probe of this
# draw set is linear_ks on both sides), 12-17 (forty-first), 24-29 (forty-second, new DDPMs)
draws pn "$R/le-pn-s5-d38 $R/le-pn-s6-d38" $R/le-pn-baselines-d38 $R/le-pn-baselines-d38 $R/le-pn-random-d38 \
  linear_ks "5 10 25"
draws pn12 "$R/le-pn-s5-d41 $R/le-pn-s6-d41" $R/le-pn-baselines-d41 $R/le-pn-baselines-d41 $R/le-pn-random-d41 \
  linear_topk "5 10 25"
draws pn24 "$R/le-pn-s7-d42 $R/le-pn-s8-d42" $R/le-pn-baselines-d42 $R/le-pn-baselines-d42 $R/le-pn-random-d42 \
  linear_topk "5 10 25"
# brain MRI 64^2: head seeds 0-5 (5, 10, 25 labels), 12-17 (5, 10)
draws b64 "$R/le-b64-s4-d41 $R/le-b64-s5-d41" \
  "$(echo $R/le-b64-baselines-d39rn{5,10a,10b} $R/le-b64-baselines-d41rn25{a,b})" \
  "$R/le-b64-baselines-d39sc $R/le-b64-baselines-d41sc25" $R/le-b64-random-d41r linear_topk "5 10 25"
draws b64s12 "$R/le-b64-s4-d41s12 $R/le-b64-s5-d41s12" "$R/le-b64-baselines-d41rn12a $R/le-b64-baselines-d41rn12b" \
  $R/le-b64-baselines-d41sc12 $R/le-b64-random-d41rs12 linear_topk "5 10"
# AdrenalMNIST3D 28^3: head seeds 12-17 (5, 10 labels), 18-23 (5)
draws a3d "$R/le-a3d-s3-d40 $R/le-a3d-s4-d40" "$(echo $R/le-a3d-baselines-d40rn1{2..7})" $R/le-a3d-baselines-d40small \
  $R/le-a3d-random-d40r0 linear_topk "5 10"
draws a3d18 "$R/le-a3d-s3-d41s18 $R/le-a3d-s4-d41s18" "$R/le-a3d-baselines-d41rn18a $R/le-a3d-baselines-d41rn18b" \
  $R/le-a3d-baselines-d41sc18 $R/le-a3d-random-d41rs18 linear_topk "5"
