#!/usr/bin/env bash
# Queue B of the 2026-11-22 benchmark session (one torch thread; queue A ran beside it).
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
. .venv/bin/activate
bash bench/run_heads.sh pneumonia28 > bench/logs/heads-pneumonia28.log 2>&1
bash bench/run_generation.sh cond > bench/logs/gen-cond.log 2>&1
bash bench/run_generation.sh sample > bench/logs/gen-sample.log 2>&1
bash bench/run_generation.sh rebalance > bench/logs/gen-rebalance.log 2>&1
bash bench/run_probe_grids.sh brain64 > bench/logs/brain64.log 2>&1
bash bench/run_heads.sh brain64 > bench/logs/heads-brain64.log 2>&1
bash bench/run_generation.sh uvit > bench/logs/gen-uvit.log 2>&1
echo QUEUE_B_DONE >> bench/logs/queue.log
