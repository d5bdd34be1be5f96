#!/bin/bash
# Issue 13, twenty-fifth session: second addition to bench/b64_all_dcube_cpu.sh (declared in BENCHMARKS at 01:43
# UTC, before any full D-Cube head cell at `all` had finished): the full D-Cube head on the random-init U-Net (the
# twenty-second session's CPU control checkpoint $DDPM_RUNS/b64-random2cpu/ckpt-0000002.pt, the feature banks
# of le-b64-random-cpu reused by hard links) at budget `all`. Does the head at `all` owe anything to diffusion
# pretraining, against a frozen multi-scale random CNN? One lane per finished lane of bench/b64_all_dcube_cpu_add.sh,
# the same STOP:
#   lane 1 (after le-b64-s0-cpualldc2): head seeds 0 and 1 (run le-b64-random-cpualldc)
#   lane 2 (after le-b64-s1-cpualldc2): head seed 2 (run le-b64-random-cpualldcb)
#
#   MEDFX_SRC=/work/frozen22 STOP=$(date -d 03:40 +%s) bash bench/b64_all_control_cpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
STOP=${STOP:-$(( $(date +%s) + 7200 ))}
X="heads.precision=fp32 data.path=.dev/brain64_dedup.npz data.max_per_split=null"
LOGS=${LOGS:-/work/logs25}; mkdir -p "$LOGS"
DDPM_RUNS=${DDPM_RUNS:-/work/ddpm_runs}   # the DDPM runs (checkpoints) the lanes read
source bench/lib.sh   # run_left, wait_for
control() {  # control LOG SUFFIX HEAD_SEEDS
  run_left "$1" env DATASET=brain64 BUDGETS='[all]' LINK_FROM=-cpu SUFFIX=$2 EXTRA="$X heads.seeds=$3" \
    CONTROL_CKPT=$DDPM_RUNS/b64-random2cpu/ckpt-0000002.pt METHODS="['dcube']" \
    bash bench/label_efficiency.sh control
}
lane1() { wait_for le-b64-s0-cpualldc2; control $LOGS/ctl1.log -cpualldc '[0,1]'; }
lane2() { wait_for le-b64-s1-cpualldc2; control $LOGS/ctl2.log -cpualldcb '[2]'; }
lane1 &
lane2 &
wait
