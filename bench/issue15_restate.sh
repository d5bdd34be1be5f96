#!/usr/bin/env bash
# Issue 15: the PneumoniaMNIST comparison of issue 4 (bench/run_heads.sh pneumonia28 + bench/heads_longer.sh
# pneumonia28) re-run in one `medfx run`, so that it writes predictions, uncertainty.json and summary.csv
# (paired bootstrap and DeLong against the same-run ResNet-18). Same data (2000-image training subsample, complete
# validation and test splits), timesteps, head sizes, caps (feature heads 20 epochs, CNNs 8) and batch size as
# issue 4. Scaled down for the CPU budget of a shared 2-core machine: the DDPM is the 500-step checkpoint of a
# cpu-28 run (issue 4: 1500 steps), two seeds (0, 1) instead of three, one patience (5) for every method, and
# the reference (ResNet-18) and D-Cube are trained before the CATS-like head.
#   bash bench/issue15_restate.sh CKPT   (e.g. a copy of <cpu-28 run>/ckpt-0000500.pt)
set -euo pipefail
cd "$(dirname "$0")/.."
medfx run preset=cpu-28 run.out_dir=bench/runs run.name=issue15-pn28 pipeline.checkpoint="$1" \
  "features.timesteps=[0,10,50,100,200,400]" data.max_per_split=2000 "heads.seeds=[0,1]" \
  heads.batch_size=128 heads.dcube_widen=0.5 heads.epochs=20 heads.baseline_epochs=8 heads.patience=5 \
  "heads.methods=[linear_best,small_cnn,resnet18,dcube,cats]"
