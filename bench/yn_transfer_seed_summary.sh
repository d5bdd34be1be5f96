#!/bin/bash
# The yes/no transfer with 4x more pretraining on one DDPM seed (DDPM_SEED, default 0; BENCHMARKS "Issue 13:
# twenty-fourth session" for seed 0, "twenty-sixth session" for seed 2; runs of bench/yn_transfer_seed.sh): the
# pre-registered primary test, then the secondary comparisons, the 10-label probe at every checkpoint of both arms
# (and its figure), and each arm against the fourth session's CNN cells. Outputs are named by the seed
# (yn_transfer_seed<S>_paired.txt, ...). Was bench/yn_transfer_seed0_summary.sh (seed 0 only).
# Without `curves` the figure is re-drawn from the committed curve files, so a new seed needs `curves` once.
#   MEDFX_SRC=/work/frozen22 DDPM_SEED=2 bash bench/yn_transfer_seed_summary.sh [curves]   (curves: also the
#   compute curves)
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD}:$PWD/bench
PY=${PY:-python -P}
R=bench/results; B=bench/runs; S=${DDPM_SEED:-0}
POOL=$B/le-yn-pool-s$S-long; TGT=$B/le-yn-target-s$S-long; T500=$B/le-yn-s$S-t500
source bench/lib.sh   # yn_arm_pairs
out=$R/yn_transfer_seed${S}_paired.txt
{
  echo "######## PRIMARY (pre-registered): KS-keys probe, pool arm (1600 + 100) minus target arm (1700), 5 labels"
  $PY bench/paired_methods.py --budget 5 --runs $POOL --against-runs $TGT --methods linear_ks
  yn_arm_pairs "DDPM seed $S" $POOL $TGT $T500
} | tee $out
# each arm against the fourth session's committed CNN cells (5-25 labels, the same subsets), seed-paired
$PY bench/seed_paired_cells.py --cells "$R/label_efficiency_yn.json@le-yn-baselines" \
  --runs $POOL#pool1600 $TGT#target1700 $T500#target500 --ref resnet18 --budgets 5 10 25 \
  --out $R/yn_transfer_seed${S}_vs_resnet18.json
if [ "${1:-}" = curves ]; then
  # the 10-label probe at each checkpoint (the pool arm's before its fine-tune), on the yes/no splits
  $PY bench/pretrain_compute_curve.py --ckpts $POOL/ddpm/ckpt-*.pt --budget 10 --data-from $TGT/config.yaml \
    --out $R/yn_compute_pool-s${S}_long.json
  # the target arm's 17 checkpoints in two halves, one per core
  $PY bench/pretrain_compute_curve.py --ckpts $TGT/ddpm/ckpt-000{01,02,03,04,05,06,07,08}00.pt --budget 10 \
    --data-from $TGT/config.yaml --out $R/yn_compute_target-s${S}_long_a.json &
  $PY bench/pretrain_compute_curve.py --ckpts $TGT/ddpm/ckpt-000{09,10,11,12,13,14,15,16,17}00.pt \
    --budget 10 --data-from $TGT/config.yaml --out $R/yn_compute_target-s${S}_long_b.json
  wait
fi
$PY bench/plot_compute_curve.py --curve $R/yn_compute_pool-s${S}_long.json \
  --curve-b $R/yn_compute_target-s${S}_long_a.json $R/yn_compute_target-s${S}_long_b.json \
  --names "pool arm, before fine-tuning" "target arm" --batch 32 --table \
  --title "yes/no 64x64, 10 labels/class, DDPM seed $S: pool (5155) vs target (128 images)" \
  --png docs/img/yn_transfer_compute_s$S.png | tee $R/yn_transfer_compute_s${S}_table.md
