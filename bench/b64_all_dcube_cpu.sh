#!/bin/bash
# Issue 13, twenty-fifth session: brain MRI 64^2 at budget `all` (all 5667 training labels of the de-duplicated
# split, .dev/brain64_dedup.npz from bench/make_brain64_npz.py): the two cells the twenty-second session's H200 call
# never reached (BENCHMARKS "Issue 13: twenty-fifth session"). Two lanes, one core each, stopping at STOP (epoch
# seconds; a cell unfinished then is not reported):
#   lane dcube: the full D-Cube head on the twenty-second session's H200-trained 3000-step DDPMs
#               (.dev/b64-s{0,1}-3000.safetensors, their EMA weights), on the feature banks of le-b64-s{0,1}-cpud3000
#               (hard links): DDPM seed 0 with head seed 0, then DDPM seed 1 with head seed 1.
#   lane cnn:   D-Cube's image CNN alone (same trainer, no diffusion features), head seeds 0 then 1.
#
#   MEDFX_SRC=/work/frozen22 STOP=$(date -d 03:40 +%s) bash bench/b64_all_dcube_cpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
STOP=${STOP:-$(( $(date +%s) + 7200 ))}
X="heads.precision=fp32 data.path=.dev/brain64_dedup.npz data.max_per_split=null"
LOGS=${LOGS:-/work/logs25}; mkdir -p "$LOGS"
source bench/lib.sh   # run_left, wait_for
lane_dcube() {
  for s in 0 1; do
    run_left $LOGS/dcube.log env DATASET=brain64 BUDGETS='[all]' LINK_FROM=-cpud3000 SUFFIX=-cpualldc \
      DDPM_SEEDS=$s CKPT_S$s=.dev/b64-s$s-3000.safetensors EXTRA="$X heads.seeds=[$s]" METHODS="['dcube']" \
      bash bench/label_efficiency.sh ddpm
  done
}
lane_cnn() {
  run_left $LOGS/cnn.log env DATASET=brain64 BUDGETS='[all]' SUFFIX=-cpualldcnn EXTRA="$X heads.seeds=[0,1]" \
    METHODS="['dcube_cnn']" bash bench/label_efficiency.sh baselines
}
lane_dcube &
lane_cnn &
wait
