#!/bin/bash
# The yes/no transfer at 4x pretraining over its three DDPM seeds (BENCHMARKS "Issue 13: twenty-sixth session"):
#   1. every comparison of bench/yn_transfer_seeds.py across seeds 1 (twelfth session; its run directories are gone,
#      so only its committed paired file), 0 (twenty-fourth) and 2 (twenty-sixth);
#   2. seeds 0 and 2 pooled: both DDPMs' cells averaged per test image (6 cells a side), paired bootstrap over the
#      test images (bench/paired_methods.py), pool minus target and target 1700 minus 500 steps.
# Needs bench/results/yn_transfer_seed{0,2}_paired.txt (DDPM_SEED=0|2 bash bench/yn_transfer_seed_summary.sh) and,
# for 2., the run directories of both seeds. Output: bench/results/yn_transfer_3seeds.md
#   MEDFX_SRC=/work/frozen22 bash bench/yn_transfer_3seeds.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD}:$PWD/bench
PY=${PY:-python -P}
R=bench/results; B=bench/runs
source bench/lib.sh   # yn_arm_pairs
{
  echo "# The yes/no transfer at 4x pretraining, three DDPM seeds (bench/yn_transfer_3seeds.sh)"
  $PY bench/yn_transfer_seeds.py --seed 1=$R/yn_transfer_long_paired.txt --seed 0=$R/yn_transfer_seed0_paired.txt \
    --seed 2=$R/yn_transfer_seed2_paired.txt
  echo
  echo "## seeds 0 and 2 pooled (6 cells a side; paired bootstrap over the 73 test images)"
  echo '```'
  yn_arm_pairs "seeds 0 + 2" "$(echo $B/le-yn-pool-s{0,2}-long)" "$(echo $B/le-yn-target-s{0,2}-long)" \
    "$(echo $B/le-yn-s{0,2}-t500)"
  echo '```'
} | tee $R/yn_transfer_3seeds.md
