#!/bin/bash
# Issue 13, forty-fifth session (BENCHMARKS "Issue 13: forty-fifth session", D; pre-registered): brain MRI 64^2 at 25
# labels per class, `backbone_ft` on b64-s{4,5} (bench/b64_45.sh) minus the ResNet-18 (primary), minus the KS-keys
# probe of the same runs and the small CNN (descriptive); head seeds 0-5, paired bootstrap over the test images.
# With the repository's medfx (MEDFX_SRC unset): cd bench && bash b64_45_summary.sh > results/b64_45_ft25.txt
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
source fuse_lib.sh   # pm
S="0 1 2 3 4 5" FT=(runs/le-b64-s4-d45ft25 runs/le-b64-s5-d45ft25)
RN=(runs/le-b64-baselines-d41rn25a runs/le-b64-baselines-d41rn25b) SC=runs/le-b64-baselines-d41sc25
echo "## brain MRI 64^2, 25 labels per class, head seeds $S, backbone_ft on ${FT[*]}"
echo "# check: the subsets of every run equal those of the first (on the cells both have)"
$PY same_subsets.py --shared "${FT[@]}" "${RN[@]}" "$SC" runs/le-b64-s4-d41
echo "# (primary) backbone_ft minus the ResNet-18"
pm --budget 25 --seeds $S --runs "${FT[@]}" --ref resnet18 --ref-runs "${RN[@]}" --methods backbone_ft
echo "# (descriptive) backbone_ft minus the KS-keys probe of the same runs; minus the small CNN"
pm --budget 25 --seeds $S --runs "${FT[@]}" --ref linear_ks --ref-runs "${FT[@]}" --methods backbone_ft
pm --budget 25 --seeds $S --runs "${FT[@]}" --ref small_cnn --ref-runs "$SC" --methods backbone_ft
echo "# (descriptive) the KS-keys probe minus the ResNet-18"
pm --budget 25 --seeds $S --runs "${FT[@]}" --ref resnet18 --ref-runs "${RN[@]}" --methods linear_ks
