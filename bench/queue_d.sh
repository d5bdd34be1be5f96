#!/usr/bin/env bash
# Queue D of the 2026-11-22 benchmark session: brain MRI 64^2 (after queue C; one torch thread).
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
. .venv/bin/activate
while pgrep -f queue_c.sh > /dev/null; do sleep 15; done
bash bench/run_probe_grids.sh brain64 > bench/logs/brain64.log 2>&1
bash bench/run_heads.sh brain64 > bench/logs/heads-brain64.log 2>&1
echo QUEUE_D_DONE >> bench/logs/queue.log
