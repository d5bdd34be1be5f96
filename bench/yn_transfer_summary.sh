#!/bin/bash
# The yes/no transfer summary (BENCHMARKS "Issue 13: eleventh session"): seed 0 of each arm and the CNNs at 5-25 come
# from the committed fourth-session cells, DDPM seeds 1-2 and the CNNs at 50 / all from run directories of this machine.
set -euo pipefail
cd "$(dirname "$0")/.."; export PYTHONPATH=$PWD:bench
R=bench/results
ARM_CELLS=("$R/label_efficiency_yn.json@le-yn-pool#pool" "$R/label_efficiency_yn_target.json@le-yn-target#target")
ARM_RUNS=(bench/runs/le-yn-pool-s1#pool bench/runs/le-yn-pool-s2#pool bench/runs/le-yn-target-s1#target
          bench/runs/le-yn-target-s2#target)
BUDGETS=(5 10 25 50 all)
python bench/seed_paired_cells.py \
  --cells "${ARM_CELLS[@]}" "$R/label_efficiency_yn.json@le-yn-baselines" \
  --runs "${ARM_RUNS[@]}" bench/runs/le-yn-baselines-b50rn0 bench/runs/le-yn-baselines-b50rn1 \
         bench/runs/le-yn-baselines-b50rn2 bench/runs/le-yn-baselines-b50cnn \
  --ref resnet18 --budgets "${BUDGETS[@]}" --all-per-class 64 \
  --title "brain MRI yes/no 64x64: pool-pretrained (+ fine-tune) vs target-only DDPM, 3 DDPM seeds (2 at 50 / all)" \
  --png docs/img/label_efficiency_yesno64_transfer.png \
  --png-methods 'linear_ks#target' 'linear_ks#pool' 'dcube_feats#target' 'dcube_feats#pool' resnet18 small_cnn dcube_cnn \
  --out $R/yn_transfer_3ddpm_vs_resnet18.json
for m in linear_best linear_ks cats dcube_feats; do
  python bench/seed_paired_cells.py --cells "${ARM_CELLS[@]}" --runs "${ARM_RUNS[@]}" \
    --ref "$m#target" --methods "$m#pool" --budgets "${BUDGETS[@]}" --out $R/yn_transfer_pool_minus_target_$m.json
done
