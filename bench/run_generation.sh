#!/usr/bin/env bash
# Issue 5 benchmarks on PneumoniaMNIST 28^2 (CPU): conditional DDPMs with and without the contrastive loss,
# DDIM-50 vs DDPM-1000 (time and Frechet distance), per-class distances, synthetic rebalancing of the CNN
# baselines (+ the D-Cube head with its cycle loss), and the U-ViT probe grid.
#   bash bench/run_generation.sh [cond|sample|rebalance|uvit ...]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/runs
DET=(--detector diffusion --ckpt $OUT/pneumonia28/last.pt)   # independent frozen DDPM (unconditional) as detector
STEPS=${STEPS:-600}
for j in "${@:-cond sample rebalance uvit}"; do
  case $j in
    cond)
      medfx pretrain preset=cpu-28 run.out_dir=$OUT run.name=cond-pn model.conditional=true train.steps=$STEPS
      medfx pretrain preset=cpu-28 run.out_dir=$OUT run.name=cond-pn-con model.conditional=true train.steps=$STEPS \
        contrastive.weight=1.0 contrastive.block=mid ;;
    sample)
      for m in cond-pn cond-pn-con; do
        rm -rf $OUT/$m/ddim50
        /usr/bin/time -f "$m ddim-50: %e s" medfx sample $OUT/$m/last.pt --per-class 250 --sampler ddim --steps 50 \
          --seed 0 --out $OUT/$m/ddim50
        medfx fid builtin:pneumoniamnist $OUT/$m/ddim50 --per-class "${DET[@]}" --out $OUT/$m/fd_ddim50.json
      done
      rm -rf $OUT/cond-pn/ddpm1000
      /usr/bin/time -f "cond-pn ddpm-1000: %e s" medfx sample $OUT/cond-pn/last.pt --per-class 250 --sampler ddpm \
        --steps 1000 --seed 0 --out $OUT/cond-pn/ddpm1000
      medfx fid builtin:pneumoniamnist $OUT/cond-pn/ddpm1000 --per-class "${DET[@]}" --out $OUT/cond-pn/fd_ddpm1000.json
      ;;
    rebalance)
      medfx train-head preset=cpu-28 run.out_dir=$OUT run.name=rebalance-pn --ckpt $OUT/cond-pn-con/last.pt \
        "features.timesteps=[0,10,50,200]" "heads.methods=['dcube','small_cnn','resnet18']" heads.seeds=[0,1,2] \
        heads.epochs=10 heads.baseline_epochs=10 heads.patience=4 heads.synthetic_balance=1.0 \
        "heads.synthetic_methods=['small_cnn','resnet18']" ;;
    uvit)
      medfx pretrain preset=cpu-28 run.out_dir=$OUT run.name=uvit-pn model.arch=uvit model.uvit.patch_size=4 \
        model.uvit.embed_dim=128 model.uvit.depth=7 model.uvit.num_heads=4 train.steps=$STEPS train.lr=5e-4
      medfx probe --ckpt $OUT/uvit-pn/last.pt "features.timesteps=[0,10,50,100,200,400]" ;;
  esac
done
