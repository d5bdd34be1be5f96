#!/usr/bin/env bash
# Queue B (restarted with smaller budgets) of the 2026-11-22 benchmark session (one torch thread).
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 STEPS=300
. .venv/bin/activate
bash bench/run_generation.sh cond > bench/logs/gen-cond.log 2>&1
bash bench/run_generation.sh sample > bench/logs/gen-sample.log 2>&1
bash bench/run_generation.sh rebalance > bench/logs/gen-rebalance.log 2>&1
bash bench/run_generation.sh uvit > bench/logs/gen-uvit.log 2>&1
echo QUEUE_B_DONE >> bench/logs/queue.log
