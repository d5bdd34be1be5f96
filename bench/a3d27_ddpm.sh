#!/bin/bash
# Issue 13, twenty-seventh session: one of two fresh 2000-step AdrenalMNIST3D DDPMs (seed 0 or 1) with the settings
# of the lost a3d-s{0,1} (BENCHMARKS "Issue 13: twenty-seventh session"); one thread, run both side by side:
#   MEDFX_SRC=/work/frozen22 bash bench/a3d27_ddpm.sh 0 & MEDFX_SRC=/work/frozen22 bash bench/a3d27_ddpm.sh 1 &
# Writes $DDPM_RUNS/a3d27-s<seed> (default /work/ddpm_runs), a checkpoint every 500 steps. THREADS (default 1):
# torch threads, e.g. THREADS=2 for one DDPM alone on 2 cores (the twenty-eighth session's seed 2). STEPS (default
# 2000) and KEEP (step checkpoints kept; default medfx's) continue a copy of a run further (bench/a3d35.sh). NAME
# (default a3d27) names the run <NAME>-s<seed>; TRAIN_EXTRA adds train.* overrides (space-separated), e.g. the
# pretraining augmentation of bench/a3d50.sh: NAME=a3d50aug TRAIN_EXTRA="train.augment_shift=2".
cd "$(dirname "$0")/.."
T=${THREADS:-1}
export OMP_NUM_THREADS=$T MKL_NUM_THREADS=$T PYTHONPATH=${MEDFX_SRC:-$PWD}
s=$1
read -r -a TX <<< "${TRAIN_EXTRA:-}"
nice -n 5 ${PY:-$PWD/.venv/bin/python} -P -m medfx pretrain preset=cpu-3d-28 run.out_dir=${DDPM_RUNS:-/work/ddpm_runs} run.name=${NAME:-a3d27}-s$s \
  run.seed=$s train.steps=${STEPS:-2000} train.batch_size=16 train.ckpt_every=500 train.sample_every=0 train.log_every=10 run.threads=$T \
  ${KEEP:+train.keep_ckpts=$KEEP} "${TX[@]}"
