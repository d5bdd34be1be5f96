#!/bin/bash
# Issue 13, forty-fourth session, prepared (BENCHMARKS "Issue 13: forty-fourth session", "Prepared for the next
# session"; pre-registered): brain MRI 64^2 at 5 labels per class, the forty-first session's late fusion `fuse_topk_sc`
# (one DDPM's top-5 probe ensemble averaged with the small CNN of the same head seed; 12 cells = 2 DDPMs x 6 head
# seeds) on the SECOND DDPM pair b64-s{6,7} (bench/b64_44.sh), per draw set (head seeds 0-5, 12-17, 24-29), against the
# same ResNet-18, CNN-pair and random-init cells as on b64-s{4,5}. `fuse_ens` on the new pair: descriptive.
# With the repository's medfx (MEDFX_SRC unset): cd bench && bash fuse44b_summary.sh > results/fuse44_b64pair67.txt
# `bash fuse44b_summary.sh pair45` runs the same on the first pair's runs (a check: it must give the forty-first and
# forty-second sessions' committed numbers, e.g. +0.151 / +0.099 on head seeds 0-5).
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
source fuse_lib.sh   # pair_fusions, pm
# draw set: head seeds, ResNet-18 runs, small-CNN run, random-init probe run (the forty-first and -second sessions')
declare -A SEEDS=([0]="0 1 2 3 4 5" [12]="12 13 14 15 16 17" [24]="24 25 26 27 28 29")
declare -A RNS=([0]="runs/le-b64-baselines-d39rn5" [12]="runs/le-b64-baselines-d41rn12a runs/le-b64-baselines-d41rn12b"
                [24]="runs/le-b64-baselines-d42rn24a runs/le-b64-baselines-d42rn24b")
declare -A SCS=([0]=runs/le-b64-baselines-d39sc [12]=runs/le-b64-baselines-d41sc12 [24]=runs/le-b64-baselines-d42sc24)
declare -A RAND=([0]=runs/le-b64-random-d41r [12]=runs/le-b64-random-d41rs12 [24]=runs/le-b64-random-d42rs24)
declare -A OLD=([0]=d41 [12]=d41s12 [24]=d42s24)   # the first pair's probe runs
case "${1:-pair67}" in pair67|pair45) ;; *) echo "usage: $0 [pair67|pair45]" >&2; exit 2 ;; esac
for h in 0 12 24; do
  s=${SEEDS[$h]} sc=${SCS[$h]} rand=${RAND[$h]} a=runs/le-b64-s6-d44s$h b=runs/le-b64-s7-d44s$h
  [ "${1:-}" = pair45 ] && a=runs/le-b64-s4-${OLD[$h]} b=runs/le-b64-s5-${OLD[$h]}
  read -ra rn <<< "${RNS[$h]}"
  T=runs/fuse44-b64s$h-${1:-pair67}
  echo "## brain MRI 64^2, head seeds $s, 5 labels per class, DDPM runs $a $b"
  echo "# check: the subsets of every run equal those of the first (on the cells both have)"
  $PY same_subsets.py --shared "$a" "$b" "${rn[@]}" "$sc" "$rand"
  pair_fusions "$T" "$a" "$b" "$rand" "$sc" "${rn[@]}"   # sets FRN
  echo "# (primary) fuse_topk_sc (both DDPMs of the pair) minus the ResNet-18"
  pm --budget 5 --seeds $s --runs "$T-1-topk" "$T-2-topk" --ref resnet18 --ref-runs "${rn[@]}" --methods fuse_topk_sc
  echo "# (attribution a) minus the CNN pair fuse_rn_sc"
  pm --budget 5 --seeds $s --runs "$T-1-topk" "$T-2-topk" --ref fuse_rn_sc --ref-runs "${FRN[@]}" --methods fuse_topk_sc
  echo "# (attribution b) minus the same fusion on the random-init U-Net"
  pm --budget 5 --seeds $s --runs "$T-1-topk" "$T-2-topk" --against-runs "$T-random" --methods fuse_topk_sc
  echo "# (descriptive) fuse_ens on the pair minus the ResNet-18; the probes minus the ResNet-18"
  pm --budget 5 --seeds $s --runs "$T-ens" --ref resnet18 --ref-runs "${rn[@]}" --methods fuse_ens
  pm --budget 5 --seeds $s --runs "$a" "$b" --ref resnet18 --ref-runs "${rn[@]}" --methods linear_topk linear_ks linear_best
done
