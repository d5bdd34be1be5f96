#!/usr/bin/env bash
# Issue 15: the D-Cube cycle-term comparison of issue 4 (bench/dcube_cycle.sh) re-run so that every classifier
# writes predictions and the sentences can be restated with paired intervals. As in issue 4: PneumoniaMNIST 28^2,
# a class-conditional U-Net DDPM with the contrastive loss (contrastive.weight=1, block mid; 300 steps, all
# training images), a seeded stratified 1500-image training subsample, complete validation and test splits,
# timesteps 0, 10, 50, 200, D-Cube (width-0.5 ResNet-18 branch) 8 epochs max with patience 4 and loss weights
# (CE, cycle, flip) = (1, 10, 0.1) vs (1, 0, 0.1), ResNet-18 from scratch 6 epochs (the issue-4 reference was the
# rebalance run's 6-epoch ResNet-18). Epochs selected by validation AUC, fp32, 3 seeds. The cycle-off variant
# reuses the cycle run's extraction, probe grid and KS selection (hard links).
#   bash bench/issue15_cycle.sh          then: python bench/paired_table.py bench/runs/issue15-cycle-pn ...
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD}
OUT=bench/runs
[ -f $OUT/cond-pn-con/done.json ] || medfx pretrain preset=cpu-28 run.out_dir=$OUT run.name=cond-pn-con \
  model.conditional=true train.steps=${STEPS:-300} contrastive.weight=1.0 contrastive.block=mid run.threads=1
COMMON=(preset=cpu-28 run.out_dir=$OUT run.threads=1 pipeline.checkpoint=$OUT/cond-pn-con/last.pt
        data.max_per_split=1500 "features.timesteps=[0,10,50,200]" "heads.seeds=${SEEDS:-[0,1,2]}" heads.epochs=8
        heads.baseline_epochs=6 heads.patience=4 heads.dcube_widen=0.5 heads.select_metric=auc heads.precision=fp32
        heads.decision=argmax "pipeline.stages=[extract,probe,gaussianity,heads]")
medfx run "${COMMON[@]}" run.name=issue15-cycle-pn "heads.methods=[linear_best,resnet18,dcube]" \
  "heads.dcube_weights=[1.0,10.0,0.1]"
link_cached_run $OUT/issue15-cycle-pn $OUT/issue15-nocycle-pn
medfx run "${COMMON[@]}" run.name=issue15-nocycle-pn "heads.methods=[linear_best,dcube]" \
  "heads.dcube_weights=[1.0,0.0,0.1]"
