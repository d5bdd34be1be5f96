#!/bin/bash
# The yes/no pool arm continued to 2800 pool steps, then the same 100 fine-tune steps and heads (runs
# le-yn-pool-s<S>-x2800: DDPM seed 2 in the twenty-seventh session's declared addition, seed 0 pre-registered in the
# twenty-eighth session), against the same seed's pool arm at 1600 + 100, target arm (1700) and short target arm
# (500), per budget (paired bootstrap over the 73 test images); then the same comparisons pooled over the seeds whose
# x2800 run has finished (cell-averaged over both seeds on each side). Output kept in results/yn_x2800_paired.txt;
# with `cnn`, the comparison with the yes/no CNN cells instead (below).
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
REFS=(pool-s@-long target-s@-long s@-t500)   # @ = the DDPM seed
SEEDS=(); for s in 2 0; do [ -e runs/le-yn-pool-s$s-x2800/done.json ] && SEEDS+=($s); done
if [ "${1:-}" = cnn ]; then
  # `bash bench/yn_x2800_summary.sh cnn` (twenty-eighth session, declared addition): the x2800 runs' KS-keys probe
  # against the fourth session's committed yes/no CNN cells (no per-image predictions survive: seed-paired over head
  # seeds, t intervals), each seed (tags s2, s0) and both (tag both: the two DDPMs averaged per head seed).
  # Output kept in results/yn_x2800_vs_cnn.txt.
  RUNS=(); for s in "${SEEDS[@]}"; do RUNS+=(runs/le-yn-pool-s$s-x2800#s$s runs/le-yn-pool-s$s-x2800#both); done
  for ref in resnet18 small_cnn; do
    echo "# KS-keys probe of the pool arm at 2800 + 100 minus the $ref (yes/no CNN cells of le-yn-baselines)"
    $PY seed_paired_cells.py --cells "results/label_efficiency_yn.json@le-yn-baselines" --runs "${RUNS[@]}" \
      --ref $ref --methods $(for s in "${SEEDS[@]}"; do echo linear_ks#s$s; done) linear_ks#both --budgets 5 10 25
  done
  exit 0
fi
for s in "${SEEDS[@]}"; do
  [ "$s" = 2 ] || echo "# ===== DDPM seed $s"
  for b in 5 10 25 50 all; do
    for ref in "${REFS[@]}"; do
      ref=le-yn-${ref//@/$s}
      echo "# budget $b: pool arm 2800 + 100 minus $ref"
      $PY paired_methods.py --budget $b --runs runs/le-yn-pool-s$s-x2800 --against-runs runs/$ref
    done
  done
done
[ "${#SEEDS[@]}" -ge 2 ] || exit 0
echo "# ===== pooled over DDPM seeds ${SEEDS[*]}"
for b in 5 10 25 50 all; do
  for ref in "${REFS[@]}"; do
    X=(); R=(); for s in "${SEEDS[@]}"; do X+=(runs/le-yn-pool-s$s-x2800); R+=(runs/le-yn-${ref//@/$s}); done
    echo "# budget $b: pool arm 2800 + 100 minus ${ref//@/*} (seeds ${SEEDS[*]})"
    $PY paired_methods.py --budget $b --runs "${X[@]}" --against-runs "${R[@]}"
  done
done
