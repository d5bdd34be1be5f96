#!/bin/bash
# Feature extraction of one medfx checkpoint on several GPU nodes (SLURM + torchrun).
#
#   sbatch examples/slurm_extract.sh runs/pn/ddpm/last.pt data.path=data/brain.csv features.timesteps=[10,50,100]
#
# One torchrun agent per node (srun --ntasks-per-node=1) starts one medfx process per GPU; the agents meet
# at the first node of the allocation (c10d rendezvous). Every rank reads the same data (a shared file system,
# or the same copy on every node) and computes its share of the batches; rank 0 writes the bank, which is
# bitwise the one a single process writes. Give settings as key=value (torchrun's own parser would read
# abbreviated --options such as --n itself). Adapt the #SBATCH lines to your cluster.
#SBATCH --job-name=medfx-extract
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=32
#SBATCH --time=04:00:00
#SBATCH --output=medfx-extract-%j.log

set -euo pipefail

if [ "$#" -lt 1 ]; then
    echo "usage: sbatch $0 CHECKPOINT [key=value ...]" >&2
    exit 2
fi

GPUS_PER_NODE=${SLURM_GPUS_ON_NODE:-4}
HEAD_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
PORT=${MEDFX_RDZV_PORT:-29500}

THREADS=$(( ${SLURM_CPUS_PER_TASK:-8} / GPUS_PER_NODE ))
export OMP_NUM_THREADS=$(( THREADS > 0 ? THREADS : 1 ))  # CPU threads per process

srun --kill-on-bad-exit=1 torchrun \
    --nnodes="$SLURM_JOB_NUM_NODES" \
    --nproc_per_node="$GPUS_PER_NODE" \
    --rdzv-id="$SLURM_JOB_ID" \
    --rdzv-backend=c10d \
    --rdzv-endpoint="$HEAD_NODE:$PORT" \
    -m medfx extract "$@" run.device=cuda
