#!/usr/bin/env bash
# Issue 15: the brain MRI 64^2 and AdrenalMNIST3D 28^3 comparisons of issue 4 (bench/heads_cpu_budget.sh +
# bench/heads_longer.sh) re-run so that every classifier writes predictions, uncertainty.json and summary.csv
# (paired bootstrap and DeLong against the same-run ResNet-18). Same as issue 4: the training subsample
# (data.max_per_split 1000 / 400, seeded, stratified, the same for every method), complete validation and test
# splits, timesteps 0, 10, 50, 200, D-Cube with a width-0.25 ResNet-18 branch, CATS-like head width 128, feature
# heads up to 20 epochs with patience 5, epoch selection by validation AUC, argmax decision, fp32. The CNN caps are
# the stronger ones of issue 4: 12 epochs for the 2D ResNet-18 (its "12-epoch check"), 4 for the 3D CNNs (pass 1).
# Different from issue 4: the DDPMs are the label-efficiency ones (brain: 500 steps on all 5667 de-duplicated
# training images; adrenal: 400 steps on all training volumes; /work/ddpm_runs/{b64,a3d}-s0), and the feature
# banks, probe grid and Gaussianity map are reused (hard links) from the label-efficiency runs le-b64-s0 /
# le-a3d-s0, whose data and feature settings are the issue-4 ones.
#   bash bench/issue15_restate_more.sh brain64|adrenal3d [SELECT_METRIC]   (auc by default; bacc for the extra)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD}
ds=$1; sel=${2:-auc}
case $ds in
  brain64)   src=bench/runs/le-b64-s0; extra=(heads.baseline_epochs=12 heads.batch_size=64) ;;
  adrenal3d) src=bench/runs/le-a3d-s0; extra=(heads.baseline_epochs=4 heads.batch_size=32) ;;
  *) echo "unknown dataset $ds" >&2; exit 2 ;;
esac
name=issue15-$ds-$sel
methods="[linear_best,small_cnn,resnet18,dcube,cats]"
[ "$sel" = auc ] || methods="[small_cnn,resnet18,dcube]"
link_cached_run "$src" "bench/runs/$name"
medfx train-head "$src/config.yaml" run.name=$name "heads.label_budgets=[]" "heads.methods=$methods" \
  "heads.seeds=${SEEDS:-[0,1,2]}" heads.epochs=20 heads.patience=5 heads.select_metric=$sel heads.cats_width=128 \
  heads.precision=fp32 heads.decision=argmax "${extra[@]}"
