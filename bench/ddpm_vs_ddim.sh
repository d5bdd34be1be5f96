#!/usr/bin/env bash
# Issue 5: DDIM-50 against DDPM-1000 on the class-conditional PneumoniaMNIST DDPM (bench/run_generation.sh cond),
# the same 64 seeds (32 per class) for both samplers; Frechet distance with the frozen unconditional PneumoniaMNIST
# DDPM's mid features as detector (FD_diffusion, not FID). 64 images are few for a 64-d covariance: indicative only.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/runs/cond-pn
DET=(--detector diffusion --ckpt bench/runs/pneumonia28/last.pt)
for s in "ddim 50" "ddpm 1000"; do
  set -- $s
  rm -rf $OUT/cmp-$1$2
  /usr/bin/time -f "$1-$2 (64 images): %e s" medfx sample $OUT/last.pt --per-class 32 --sampler $1 --steps $2 \
    --seed 100 --batch-size 64 --out $OUT/cmp-$1$2
  medfx fid builtin:pneumoniamnist $OUT/cmp-$1$2 --per-class "${DET[@]}" --out $OUT/fd_cmp-$1$2.json
done
# reference: real training images against real validation images with the same detector (the noise floor)
medfx fid builtin:pneumoniamnist builtin:pneumoniamnist --real-split train --fake-split val --per-class "${DET[@]}" \
  --out bench/runs/cond-pn/fd_real_train_vs_val.json
