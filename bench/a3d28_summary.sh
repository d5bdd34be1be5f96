#!/bin/bash
# AdrenalMNIST3D 28^3 at 5, 10 and 25 labels per class, fp32 / >= 200-step harness (BENCHMARKS "Issue 13:
# twenty-eighth session"): the feature methods on the two retrained DDPMs (le-a3d-s{0,1}-d27few, HARNESS=few bench/a3d27_all.sh;
# bit-identical to the ninth session's cells, checked with bench/a3d28_check.py) and on the new seed-2 DDPM
# (le-a3d-s2-d28few), against the small CNN re-run beside them (le-a3d-baselines-d27fewsmall{0,1,2}). Writes
# results/label_efficiency_a3d28_few.json and prints the check, the cell means and the pre-registered comparisons
# (kept in results/a3d28_few_paired.txt).
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
SMALL=(runs/le-a3d-baselines-d27fewsmall{0,1,2}); OLD=(runs/le-a3d-s{0,1}-d27few); NEW=runs/le-a3d-s2-d28few
T=${TMPDIR:-/tmp}
echo "# the re-run on DDPMs 0-1 against the ninth session's committed cells"
$PY label_efficiency_summary.py --runs "${SMALL[@]}" "${OLD[@]}" --budgets 5 10 25 --title check \
  --out $T/a3d28_old.json --png $T/a3d28_old.png > /dev/null
$PY a3d28_check.py $T/a3d28_old.json results/label_efficiency_a3d_d2000_fp32.json
echo "# cell means, three DDPMs (seeds 0, 1, 2)"
$PY label_efficiency_summary.py --runs "${SMALL[@]}" "${OLD[@]}" $NEW --budgets 5 10 25 \
  --title "AdrenalMNIST3D 28^3, fp32 harness, three 2000-step DDPMs" --ddpm "2000-step DDPMs a3d27-s{0,1,2}" \
  --out results/label_efficiency_a3d28_few.json --png $T/a3d28_few.png
for b in 5 10 25; do
  echo "# budget $b: the new seed-2 DDPM's methods minus the small CNN (PRIMARY: linear_ks)"
  $PY paired_methods.py --budget $b --runs $NEW --ref small_cnn --ref-runs "${SMALL[@]}"
  echo "# budget $b: three DDPMs pooled minus the small CNN"
  $PY paired_methods.py --budget $b --runs "${OLD[@]}" $NEW --ref small_cnn --ref-runs "${SMALL[@]}"
done
