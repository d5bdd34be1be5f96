#!/bin/bash
# The yes/no transfer with 4x more pretraining (BENCHMARKS "Issue 13: twelfth session"): DDPM seed 1 of both arms
# resumed from the eleventh session's checkpoints (pool arm 400 -> 1600 pool steps + 100 fine-tune steps; target arm
# 500 -> 1700 steps, the same compute), then the diffusion-feature methods at budgets 5 / 10 / 25 / 50 / all.
#   1. paired bootstrap over the test images (bench/paired_methods.py): pool minus target at 1600 (+ 100) steps, and
#      each arm's 1600/1700-step DDPM minus its 400/500-step DDPM (the same seed, the same subsets);
#   2. the 10-label probe at every checkpoint of both arms (bench/pretrain_compute_curve.py on the yes/no splits) and
#      its figure;
set -euo pipefail
cd "$(dirname "$0")/.."; export PYTHONPATH=$PWD:bench
R=bench/results; B=bench/runs
out=$R/yn_transfer_long_paired.txt
: > $out
for b in 5 10 25 50 all; do
  echo "# budget $b: pool arm (1600 + 100 steps) minus target arm (1700 steps), DDPM seed 1" >> $out
  python bench/paired_methods.py --budget $b --runs $B/le-yn-pool-s1-long --against-runs $B/le-yn-target-s1-long >> $out
  echo "# budget $b: pool arm, 1600 + 100 minus 400 + 100 steps" >> $out
  python bench/paired_methods.py --budget $b --runs $B/le-yn-pool-s1-long --against-runs $B/le-yn-pool-s1 >> $out
  echo "# budget $b: target arm, 1700 minus 500 steps" >> $out
  python bench/paired_methods.py --budget $b --runs $B/le-yn-target-s1-long --against-runs $B/le-yn-target-s1 >> $out
done
cat $out
python bench/plot_compute_curve.py --curve $R/yn_compute_pool-s1_short.json $R/yn_compute_pool-s1_long.json \
  --curve-b $R/yn_compute_target-s1_short.json $R/yn_compute_target-s1_long.json \
  --names "pool arm, before fine-tuning" "target arm" --batch 32 --table \
  --title "yes/no 64x64, 10 labels/class, DDPM seed 1: pool (5155) vs target (128 images)" \
  --png docs/img/yn_transfer_compute.png | tee $R/yn_transfer_compute_table.md
# 3. the 1600-step arms against the CNNs (5-25: the fourth session's committed CNN cells, paired by head seed;
#    50 / all: ResNet-18 one run per head seed, the small CNNs in one run), and the per-method table
python bench/seed_paired_cells.py --cells "$R/label_efficiency_yn.json@le-yn-baselines" \
  --runs $B/le-yn-pool-s1-long#pool1600 $B/le-yn-target-s1-long#target1600 $B/le-yn-pool-s1#pool400 \
         $B/le-yn-target-s1#target500 $B/le-yn-baselines-b50rn0 $B/le-yn-baselines-b50rn1 $B/le-yn-baselines-b50rn2 \
         $B/le-yn-baselines-b50cnn \
  --ref resnet18 --budgets 5 10 25 50 all --out $R/yn_transfer_long_vs_resnet18.json
