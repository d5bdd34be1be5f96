#!/usr/bin/env bash
# D-Cube head with medfx defaults vs the D-Cube step-2 switches of `preset=dcube-paper` that apply to a 28 px U-Net,
# on one frozen PneumoniaMNIST DDPM (preset demo: 2000 training images, 300 steps, unconditional: no cycle term).
# Usage: bench/dcube_paper_step2.sh CKPT OUT_DIR    (CPU, ~10-20 min on a shared 2-core machine)
set -euo pipefail
CKPT=$1; OUT=$2
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
PY=${PY:-python}
COMMON=(preset=demo "run.out_dir=$OUT" "heads.methods=[dcube]" "heads.seeds=[0,1,2]")
# A: medfx defaults (noisy x_t at fixed t, pooled 4x4 grid, channel mixing, lr 1e-3, no flips, mirrored maps)
/usr/bin/time -f "A wall %e s" $PY -m medfx train-head "${COMMON[@]}" run.name=dcube-default --ckpt "$CKPT"
# B: clean image at a seeded random t, 7x7 maps unpooled (native for mid/up.0), lr 2e-4, flip augmentation 0.5,
#    consistency through the backbone on the flipped image, 1->3 adapter + ImageNet-layout stem (random init here:
#    no ImageNet file on this machine). Token fusion is left out: the demo U-Net's blocks differ in width.
/usr/bin/time -f "B wall %e s" $PY -m medfx train-head "${COMMON[@]}" run.name=dcube-paper-step2 --ckpt "$CKPT" \
  features.clean=true features.random_t=true "features.timesteps=[0]" heads.grid=7 heads.lr=2e-4 \
  heads.augment_flip=true heads.dcube_flip_features=true heads.dcube_imagenet_stem=true
