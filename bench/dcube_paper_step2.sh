#!/usr/bin/env bash
# D-Cube head with medfx defaults vs the D-Cube step-2 switches of `preset=dcube-paper` that apply to a small U-Net,
# on one frozen unconditional DDPM (no cycle term), same seeds, splits and label budget (preset demo: 2000 training
# images per split at most, 5 head epochs).
# Usage: bench/dcube_paper_step2.sh CKPT OUT_DIR [key=value ...]    (extra keys go to both runs, e.g. data.path=)
#   GRID=7 (default): cells per axis of the unpooled maps in B = the native size of the U-Net's bottleneck
#   (7 for 28 px, 8 for 32 px). Then: python bench/compare_runs.py OUT/dcube-paper-step2 OUT/dcube-default
# CPU (measured 2026-12-01, shared 2-core machine, data.max_per_split=1000): 4-6 min for both runs with 5 epochs.
set -euo pipefail
CKPT=$1; OUT=$2; shift 2
GRID=${GRID:-7}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
PY=${PY:-python}
COMMON=(preset=demo "run.out_dir=$OUT" "heads.methods=[dcube]" "heads.seeds=[0,1,2]" "$@")
# A: medfx defaults (noisy x_t at fixed t, pooled 4x4 grid, channel mixing, lr 1e-3, no flips, mirrored maps)
/usr/bin/time -f "A wall %e s" $PY -m medfx train-head "${COMMON[@]}" run.name=dcube-default --ckpt "$CKPT"
# B: clean image at a seeded random t, unpooled GRIDxGRID maps (native for mid/up.0), lr 2e-4, flip augmentation
#    0.5, consistency through the backbone on the flipped image, 1->3 adapter + ImageNet-layout stem (random init
#    here: no ImageNet file on this machine). Token fusion is left out: the small U-Net's blocks differ in width.
/usr/bin/time -f "B wall %e s" $PY -m medfx train-head "${COMMON[@]}" run.name=dcube-paper-step2 --ckpt "$CKPT" \
  features.clean=true features.random_t=true "features.timesteps=[0]" heads.grid=$GRID heads.lr=2e-4 \
  heads.augment_flip=true heads.dcube_flip_features=true heads.dcube_imagenet_stem=true
