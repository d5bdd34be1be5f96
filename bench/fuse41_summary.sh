#!/bin/bash
# Issue 13, forty-first session (BENCHMARKS "Issue 13: forty-first session"): late fusion of a frozen diffusion-feature
# probe and the small CNN (bench/fuse_cells.py: class probabilities of the two cells of the same budget and head seed
# averaged), against the ResNet-18, the CNN pair (ResNet-18 + small CNN averaged the same way) and the same fusion on
# the random-init U-Net, on PneumoniaMNIST (thirty-eighth session's runs), brain MRI 64^2 (thirty-ninth session's
# DDPMs; bench/fuse41.sh) and AdrenalMNIST3D (fortieth session's runs). The fused cells are written as pseudo run
# directories runs/fuse41-* (rebuilt on every call). Paired bootstrap over the test images (bench/paired_methods.py).
# Needs medfx with medfx.workflows.label_budgets.fuse_predictions (the package's own `fused`): the repository's
# (the default PYTHONPATH), not the runs' frozen copy.
#   cd bench && bash fuse41_summary.sh > results/fuse41_paired.txt
#   cd bench && bash fuse41_summary.sh replication > results/fuse41b_paired.txt  (head seeds 12-17)
#   cd bench && bash fuse41_summary.sh a3d18 > results/fuse41c_paired.txt  (3D, head seeds 18-23)
#   cd bench && bash fuse41_summary.sh pooled > results/fuse41_pooled.txt  (both draw sets)
#   cd bench && bash fuse41_summary.sh pn24 > results/fuse42_pn24_paired.txt  (forty-second session: PneumoniaMNIST,
#     two new DDPMs pn36-s{7,8}, head seeds 24-29; bench/pn42.sh)
#   cd bench && bash fuse41_summary.sh cross > results/fuse42_pn_cross.txt  (forty-second session, declared addition:
#     the DDPM pairs pn36-s{5,6} and pn36-s{7,8} crossed with the three draw sets; bench/pn42.sh cross; after pn24)
#   cd bench && bash fuse41_summary.sh b64s24 > results/fuse42_b64s24_paired.txt  (forty-second session, addition 3:
#     brain MRI at 5 labels, head seeds 24-29; bench/b64_42.sh)
#   cd bench && bash fuse41_summary.sh pooled3 > results/fuse42_pn_pooled3.txt  (PneumoniaMNIST, the three draw sets
#     pooled; descriptive; reads the pseudo runs of first, replication and pn24)
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
source fuse_lib.sh   # have, fuse, pm
# dataset TAG "DDPM RUNS" "RESNET RUNS" "SMALL-CNN RUNS" RANDOM_RUN RANDOM_METHOD "BUDGETS"
dataset() {
  local tag=$1 rm=$6 b r i=0
  local -a ddpm rn sc ft fks frn
  read -ra ddpm <<< "$2"; read -ra rn <<< "$3"; read -ra sc <<< "$4"
  mapfile -t rn < <(have "${rn[@]}"); mapfile -t sc < <(have "${sc[@]}")
  echo "## $tag"
  echo "# check: the subsets of every run equal those of the first"
  $PY same_subsets.py "${ddpm[@]}" "${rn[@]}" "${sc[@]}" "$5"
  for r in "${ddpm[@]}"; do
    i=$((i + 1))
    fuse runs/fuse41-$tag-$i-topk "$r" linear_topk fuse_topk_sc small_cnn "${sc[*]}"; ft+=(runs/fuse41-$tag-$i-topk)
    fuse runs/fuse41-$tag-$i-ks "$r" linear_ks fuse_ks_sc small_cnn "${sc[*]}"; fks+=(runs/fuse41-$tag-$i-ks)
  done
  i=0
  for r in "${rn[@]}"; do
    i=$((i + 1)); fuse runs/fuse41-$tag-rnsc$i "$r" resnet18 fuse_rn_sc small_cnn "${sc[*]}"; frn+=(runs/fuse41-$tag-rnsc$i)
  done
  rm -rf runs/fuse41-$tag-random
  if [ -d "$5/budgets" ]; then fuse runs/fuse41-$tag-random "$5" "$rm" "fuse_${rm#linear_}_sc" small_cnn "${sc[*]}"; fi
  for b in $7; do
    echo "# budget $b: (primary) fuse_topk_sc minus the ResNet-18"
    pm --budget "$b" --runs "${ft[@]}" --ref resnet18 --ref-runs "${rn[@]}" --methods fuse_topk_sc
    echo "# budget $b: (attribution a) fuse_topk_sc minus the CNN pair fuse_rn_sc"
    pm --budget "$b" --runs "${ft[@]}" --ref fuse_rn_sc --ref-runs "${frn[@]}" --methods fuse_topk_sc
    echo "# budget $b: (attribution b) the fusion on the trained DDPMs minus the same fusion on the random-init U-Net ($rm)"
    if [ "$rm" = linear_topk ]; then
      pm --budget "$b" --runs "${ft[@]}" --against-runs runs/fuse41-$tag-random --methods fuse_topk_sc
    else
      pm --budget "$b" --runs "${fks[@]}" --against-runs runs/fuse41-$tag-random --methods fuse_ks_sc
    fi
    echo "# budget $b: (secondary) fuse_topk_sc minus linear_topk (same runs)"
    pm --budget "$b" --runs "${ft[@]}" --ref linear_topk --ref-runs "${ddpm[@]}" --methods fuse_topk_sc
    echo "# budget $b: (secondary) fuse_topk_sc minus the small CNN"
    pm --budget "$b" --runs "${ft[@]}" --ref small_cnn --ref-runs "${sc[@]}" --methods fuse_topk_sc
    echo "# budget $b: (secondary) the CNN pair minus the ResNet-18"
    pm --budget "$b" --runs "${frn[@]}" --ref resnet18 --ref-runs "${rn[@]}" --methods fuse_rn_sc
    echo "# budget $b: (secondary) fuse_ks_sc minus the ResNet-18"
    pm --budget "$b" --runs "${fks[@]}" --ref resnet18 --ref-runs "${rn[@]}" --methods fuse_ks_sc
    echo "# budget $b: (secondary) the probes minus the ResNet-18"
    pm --budget "$b" --runs "${ddpm[@]}" --ref resnet18 --ref-runs "${rn[@]}" --methods linear_topk linear_ks linear_best
    echo "# budget $b: (secondary) the probes minus the small CNN"
    pm --budget "$b" --runs "${ddpm[@]}" --ref small_cnn --ref-runs "${sc[@]}" --methods linear_topk linear_ks linear_best
  done
  echo "# mean +- sd over cells: budget, method, cells, macro-F1, AUC"
  $PY - "$7" "${ddpm[*]}" "${ft[*]}" "${fks[*]}" "${frn[*]}" "${rn[*]}" "${sc[*]}" "runs/fuse41-$tag-random" "$5" <<'PYEOF'
import sys
from step_table import cells, stats
budgets, ddpm, ft, fks, frn, rn, sc, frand, rand = sys.argv[1].split(), *[a.split() for a in sys.argv[2:]]
rows = [(ddpm, "linear_topk"), (ddpm, "linear_ks"), (ft, "fuse_topk_sc"), (fks, "fuse_ks_sc"), (rn, "resnet18"),
        (sc, "small_cnn"), (frn, "fuse_rn_sc"), (rand, "linear_topk"), (rand, "linear_ks"), (frand, "fuse_topk_sc"),
        (frand, "fuse_ks_sc")]
for b in budgets:
    for runs, m in rows:
        c = cells(runs, m, b)
        if len(c) > 1:
            who = "random-init" if runs in (rand, frand) else "trained" if runs in (ddpm, ft, fks) else "CNN"
            print(f"{b}\t{m} ({who})\t{stats(c)}")
PYEOF
}
case "${1:-first}" in
  first)
    dataset pn "runs/le-pn-s5-d38 runs/le-pn-s6-d38" "runs/le-pn-baselines-d38" "runs/le-pn-baselines-d38" \
      runs/le-pn-random-d38 linear_ks "5 10 25 50"
    dataset b64 "runs/le-b64-s4-d41 runs/le-b64-s5-d41" \
      "runs/le-b64-baselines-d39rn5 runs/le-b64-baselines-d39rn10a runs/le-b64-baselines-d39rn10b runs/le-b64-baselines-d41rn25a runs/le-b64-baselines-d41rn25b" \
      "runs/le-b64-baselines-d39sc runs/le-b64-baselines-d41sc25" runs/le-b64-random-d41r linear_topk "5 10 25"
    dataset a3d "runs/le-a3d-s3-d40 runs/le-a3d-s4-d40" "$(echo runs/le-a3d-baselines-d40rn1{2..7})" \
      "runs/le-a3d-baselines-d40small" runs/le-a3d-random-d40r0 linear_topk "5 10"
    ;;
  replication)  # head seeds 12-17, the same DDPMs (bench/fuse41b.sh)
    dataset pn12 "runs/le-pn-s5-d41 runs/le-pn-s6-d41" runs/le-pn-baselines-d41 runs/le-pn-baselines-d41 \
      runs/le-pn-random-d41 linear_topk "5 10 25"
    dataset b64s12 "runs/le-b64-s4-d41s12 runs/le-b64-s5-d41s12" \
      "runs/le-b64-baselines-d41rn12a runs/le-b64-baselines-d41rn12b" runs/le-b64-baselines-d41sc12 \
      runs/le-b64-random-d41rs12 linear_topk "5 10"
    ;;
  a3d18)  # AdrenalMNIST3D, head seeds 18-23, 5 labels (bench/fuse41b.sh a3d, a3drn)
    dataset a3d18 "runs/le-a3d-s3-d41s18 runs/le-a3d-s4-d41s18" \
      "runs/le-a3d-baselines-d41rn18a runs/le-a3d-baselines-d41rn18b" runs/le-a3d-baselines-d41sc18 \
      runs/le-a3d-random-d41rs18 linear_topk "5"
    ;;
  pn24)  # forty-second session: new DDPMs (seeds 7, 8) and head seeds 24-29 (bench/pn42.sh)
    dataset pn24 "runs/le-pn-s7-d42 runs/le-pn-s8-d42" runs/le-pn-baselines-d42 runs/le-pn-baselines-d42 \
      runs/le-pn-random-d42 linear_topk "5 10 25"
    ;;
  pooled)  # both draw sets together (descriptive; reads the pseudo runs the first two modes wrote)
    pooled() {  # pooled NAME "BUDGETS" "FUSED RUNS" "RESNET RUNS" "CNN-PAIR RUNS"
      local b; local -a ft rn frn
      read -ra ft <<< "$3"; read -ra rn <<< "$4"; read -ra frn <<< "$5"
      echo "## $1, head seeds 0-5 and 12-17 pooled"
      for b in $2; do
        echo "# budget $b: fuse_topk_sc minus the ResNet-18; minus the CNN pair"
        pm --budget "$b" --runs "${ft[@]}" --ref resnet18 --ref-runs "${rn[@]}" --methods fuse_topk_sc
        pm --budget "$b" --runs "${ft[@]}" --ref fuse_rn_sc --ref-runs "${frn[@]}" --methods fuse_topk_sc
      done
    }
    pooled pn "5 10 25" "$(echo runs/fuse41-pn-{1,2}-topk runs/fuse41-pn12-{1,2}-topk)" \
      "runs/le-pn-baselines-d38 runs/le-pn-baselines-d41" "runs/fuse41-pn-rnsc1 runs/fuse41-pn12-rnsc1"
    pooled b64 "5 10" "$(echo runs/fuse41-b64-{1,2}-topk runs/fuse41-b64s12-{1,2}-topk)" \
      "$(echo runs/le-b64-baselines-d39rn{5,10a,10b} runs/le-b64-baselines-d41rn12{a,b})" \
      "$(echo runs/fuse41-b64-rnsc{1,2,3} runs/fuse41-b64s12-rnsc{1,2})"
    ;;
  cross)  # the new DDPM pair on the old draws and the old pair on the new draws (bench/pn42.sh cross)
    dataset pn0x "runs/le-pn-s7-d42s0 runs/le-pn-s8-d42s0" runs/le-pn-baselines-d38 runs/le-pn-baselines-d38 \
      runs/le-pn-random-d38 linear_ks "5 10 25"
    dataset pn12x "runs/le-pn-s7-d42s12 runs/le-pn-s8-d42s12" runs/le-pn-baselines-d41 runs/le-pn-baselines-d41 \
      runs/le-pn-random-d41 linear_topk "5 10 25"
    dataset pn24x "runs/le-pn-s5-d42s24 runs/le-pn-s6-d42s24" runs/le-pn-baselines-d42 runs/le-pn-baselines-d42 \
      runs/le-pn-random-d42 linear_topk "5 10 25"
    echo "## the DDPM pair pn36-s{7,8} minus the pair pn36-s{5,6}, fuse_topk_sc on the same draws (12 v 12 cells each)"
    for b in 5 10 25; do
      echo "# budget $b: head seeds 0-5; 12-17; 24-29; the three pooled (36 v 36)"
      pm --budget "$b" --runs runs/fuse41-pn0x-{1,2}-topk --against-runs runs/fuse41-pn-{1,2}-topk --methods fuse_topk_sc
      pm --budget "$b" --runs runs/fuse41-pn12x-{1,2}-topk --against-runs runs/fuse41-pn12-{1,2}-topk \
        --methods fuse_topk_sc
      pm --budget "$b" --runs runs/fuse41-pn24-{1,2}-topk --against-runs runs/fuse41-pn24x-{1,2}-topk \
        --methods fuse_topk_sc
      pm --budget "$b" --runs runs/fuse41-pn{0x,12x,24}-{1,2}-topk --against-runs runs/fuse41-pn{,12,24x}-{1,2}-topk \
        --methods fuse_topk_sc
    done
    ;;
  b64s24)  # forty-second session, addition 3: brain MRI at 5 labels, head seeds 24-29 (bench/b64_42.sh)
    dataset b64s24 "runs/le-b64-s4-d42s24 runs/le-b64-s5-d42s24" \
      "runs/le-b64-baselines-d42rn24a runs/le-b64-baselines-d42rn24b" runs/le-b64-baselines-d42sc24 \
      runs/le-b64-random-d42rs24 linear_topk "5"
    ;;
  pooled3)  # PneumoniaMNIST, head seeds 0-5, 12-17 (DDPMs pn36-s{5,6}) and 24-29 (pn36-s{7,8}) pooled (descriptive)
    echo "## pn, head seeds 0-5, 12-17 and 24-29 pooled"
    for b in 5 10 25; do
      echo "# budget $b: fuse_topk_sc minus the ResNet-18; minus the CNN pair"
      pm --budget "$b" --runs runs/fuse41-pn{,12,24}-{1,2}-topk --ref resnet18 \
        --ref-runs runs/le-pn-baselines-d{38,41,42} --methods fuse_topk_sc
      pm --budget "$b" --runs runs/fuse41-pn{,12,24}-{1,2}-topk --ref fuse_rn_sc \
        --ref-runs runs/fuse41-pn{,12,24}-rnsc1 --methods fuse_topk_sc
    done
    ;;
  *) echo "usage: $0 [first|replication|a3d18|pn24|cross|b64s24|pooled|pooled3]" >&2; exit 2 ;;
esac
