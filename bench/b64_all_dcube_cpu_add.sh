#!/bin/bash
# Issue 13, twenty-fifth session: the addition to bench/b64_all_dcube_cpu.sh (declared in BENCHMARKS at 01:31 UTC,
# before any cell had finished). The cells train in ~23 min each, not the hour planned, so each lane goes on, after
# its own runs are done, to complete the twenty-second session's design at `all`: the full D-Cube head on both DDPMs
# x head seeds 0-2 (6 cells), D-Cube's image CNN alone on head seeds 0-2 (3 cells). New run names (suffix
# -cpualldc2 / -cpualldcnn2) hold the added cells; the same STOP as the main script.
#   lane 1 (after le-b64-s1-cpualldc): full D-Cube head, DDPM seed 0, head seeds 1 and 2
#   lane 2 (after le-b64-baselines-cpualldcnn): the image CNN alone, head seed 2; then the full head, DDPM seed 1,
#           head seeds 0 and 2
#
#   MEDFX_SRC=/work/frozen22 STOP=$(date -d 03:40 +%s) bash bench/b64_all_dcube_cpu_add.sh
set -uo pipefail
cd "$(dirname "$0")/.."
STOP=${STOP:-$(( $(date +%s) + 7200 ))}
X="heads.precision=fp32 data.path=.dev/brain64_dedup.npz data.max_per_split=null"
LOGS=${LOGS:-/work/logs25}; mkdir -p "$LOGS"
source bench/lib.sh   # run_left, wait_for
dcube() {  # dcube LOG DDPM_SEED HEAD_SEEDS
  run_left "$1" env DATASET=brain64 BUDGETS='[all]' LINK_FROM=-cpud3000 SUFFIX=-cpualldc2 DDPM_SEEDS=$2 \
    CKPT_S$2=.dev/b64-s$2-3000.safetensors EXTRA="$X heads.seeds=$3" METHODS="['dcube']" \
    bash bench/label_efficiency.sh ddpm
}
lane1() {
  wait_for le-b64-s1-cpualldc
  dcube $LOGS/add1.log 0 '[1,2]'
}
lane2() {
  wait_for le-b64-baselines-cpualldcnn
  run_left $LOGS/add2.log env DATASET=brain64 BUDGETS='[all]' SUFFIX=-cpualldcnn2 EXTRA="$X heads.seeds=[2]" \
    METHODS="['dcube_cnn']" bash bench/label_efficiency.sh baselines
  dcube $LOGS/add2.log 1 '[0,2]'
}
lane1 &
lane2 &
wait
