#!/usr/bin/env bash
# Queue A of the 2026-11-22 benchmark session (one torch thread; queue B ran beside it).
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
. .venv/bin/activate
python bench/train_throughput.py --steps 30 --repeats 2 --out bench/results/train_throughput.json > bench/logs/throughput.log 2>&1
python bench/extraction_overhead.py --repeats 5 --threads 1 --out bench/results/extraction_overhead.json > bench/logs/extraction.log 2>&1
bash bench/run_probe_grids.sh adrenal3d > bench/logs/adrenal3d.log 2>&1
bash bench/run_heads.sh adrenal3d > bench/logs/heads-adrenal3d.log 2>&1
echo QUEUE_A_DONE >> bench/logs/queue.log
