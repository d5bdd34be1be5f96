#!/bin/bash
# Issue 13, thirty-sixth session: one of two new 3000-step PneumoniaMNIST DDPMs (seeds 5 and 6, which no earlier
# number has seen), the cpu-28 preset's U-Net and settings (all 4708 training images without labels, batch 64,
# constant lr 1e-3, precision auto), one thread each, run side by side:
#   MEDFX_SRC=/work/frozen36 bash bench/pn36_ddpm.sh 5 & MEDFX_SRC=/work/frozen36 bash bench/pn36_ddpm.sh 6 &
# Writes $DDPM_RUNS/pn36-s<seed> (default /work/ddpm_runs), a checkpoint every 500 steps. STEPS (default 3000) and KEEP
# (step checkpoints kept, default 6) continue a copy of a run further (bench/pn36c.sh).
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD}
s=$1
nice -n 5 ${PY:-$PWD/.venv/bin/python} -P -m medfx pretrain preset=cpu-28 run.out_dir=${DDPM_RUNS:-/work/ddpm_runs} \
  run.name=pn36-s$s run.seed=$s train.steps=${STEPS:-3000} train.ckpt_every=500 train.keep_ckpts=${KEEP:-6} train.sample_every=0 \
  run.threads=1
