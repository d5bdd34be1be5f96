#!/bin/bash
# The yes/no transfer with 5x more pretraining (BENCHMARKS "Issue 13: twelfth session"): DDPM seed 1 of both arms
# resumed from the eleventh session's checkpoints (pool arm 400 -> 2000 pool steps + 100 fine-tune steps; target arm
# 500 -> 2100 steps, the same compute), then the diffusion-feature methods at budgets 5 / 10 / 25.
#   1. paired bootstrap over the test images (bench/paired_methods.py): pool minus target at 2000 steps, and each arm's
#      2000-step DDPM minus its 400/500-step DDPM (the same seed, the same subsets);
#   2. the 10-label probe at every checkpoint of both arms (bench/pretrain_compute_curve.py on the yes/no splits) and
#      its figure.
set -euo pipefail
cd "$(dirname "$0")/.."; export PYTHONPATH=$PWD:bench
R=bench/results; B=bench/runs
out=$R/yn_transfer_long_paired.txt
: > $out
for b in 5 10 25; do
  echo "# budget $b: pool arm (2000 + 100 steps) minus target arm (2100 steps), DDPM seed 1" >> $out
  python bench/paired_methods.py --budget $b --runs $B/le-yn-pool-s1-long --against-runs $B/le-yn-target-s1-long >> $out
  echo "# budget $b: pool arm, 2000 + 100 minus 400 + 100 steps" >> $out
  python bench/paired_methods.py --budget $b --runs $B/le-yn-pool-s1-long --against-runs $B/le-yn-pool-s1 >> $out
  echo "# budget $b: target arm, 2100 minus 500 steps" >> $out
  python bench/paired_methods.py --budget $b --runs $B/le-yn-target-s1-long --against-runs $B/le-yn-target-s1 >> $out
done
cat $out
python bench/plot_compute_curve.py --curve $R/yn_compute_pool-s1_short.json $R/yn_compute_pool-s1_long.json \
  --curve-b $R/yn_compute_target-s1_short.json $R/yn_compute_target-s1_long.json \
  --names "pool arm, before fine-tuning" "target arm" --batch 32 --table \
  --title "brain MRI yes/no 64x64, 10 labels per class, DDPM seed 1: pool (5155 brain 4-class) vs target (128)" \
  --png docs/img/yn_transfer_compute.png | tee $R/yn_transfer_compute_table.md
