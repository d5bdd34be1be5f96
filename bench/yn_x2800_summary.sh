#!/bin/bash
# The yes/no pool arm of DDPM seed 2 continued to 2800 pool steps, then the same 100 fine-tune steps and heads
# (run le-yn-pool-s2-x2800; BENCHMARKS "Issue 13: twenty-seventh session", declared addition), against the same
# seed's pool arm at 1600 + 100, target arm (1700) and short target arm (500), per budget (paired bootstrap over
# the 73 test images). Output kept in results/yn_x2800_paired.txt.
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
X=runs/le-yn-pool-s2-x2800
for b in 5 10 25 50 all; do
  for ref in le-yn-pool-s2-long le-yn-target-s2-long le-yn-s2-t500; do
    echo "# budget $b: pool arm 2800 + 100 minus $ref"
    $PY paired_methods.py --budget $b --runs $X --against-runs runs/$ref
  done
done
