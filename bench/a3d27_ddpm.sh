#!/bin/bash
# session 27: two fresh 2000-step 3D DDPMs (seeds 0, 1), the settings of the retired a3d-s{0,1}
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD}
s=$1
nice -n 5 ${PY:-$PWD/.venv/bin/python} -P -m medfx pretrain preset=cpu-3d-28 run.out_dir=${DDPM_RUNS:-/work/ddpm_runs} run.name=a3d27-s$s \
  run.seed=$s train.steps=2000 train.batch_size=16 train.ckpt_every=500 train.sample_every=0 train.log_every=10 run.threads=1
