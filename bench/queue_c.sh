#!/usr/bin/env bash
# Queue C of the 2026-11-22 benchmark session (one torch thread; beside queues A and B).
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
. .venv/bin/activate
bash bench/run_heads.sh pneumonia28 > bench/logs/heads-pneumonia28.log 2>&1
echo QUEUE_C_DONE >> bench/logs/queue.log
