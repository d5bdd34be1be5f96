#!/bin/bash
# Issue 13, twenty-first session, second (short) H200 call: finish the four cheap diffusion methods of the step-4000
# runs of seeds 3 and 4 that bench/gpu_pn_allfull.sh's call left unfinished, by resuming the same run directories
# (carried: bench/runs/le-pn-s{3,4}-h200d4000full, ddpm_gpu/pn-s{3,4}/ema-0004000.safetensors, .whl/). The probe
# grid, KS map and finished cells are reused; the feature banks (not carried) are re-extracted on the GPU.
# At LIMIT seconds unfinished work is stopped; $OUT gets gpu2.log and runs_d4000.tar.gz.
set -uo pipefail
cd "$(dirname "$0")/.."
DEST=${OUT:?set OUT}; LIMIT=${LIMIT:-190}; T0=$(date +%s)
exec > >(tee "$DEST/gpu2.log") 2>&1
log() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
source bench/gpu_lib.sh
gpu_setup || { log "wheel install failed"; exit 1; }
export DATASET=pn BUDGETS='[all]' EXTRA='heads.precision=fp32 data.max_per_split=null' SUFFIX=-h200d4000full
mkdir -p logs_gpu2
for s in 3 4; do
  (env DDPM_SEEDS=$s CKPT_S$s=ddpm_gpu/pn-s$s/ema-0004000.safetensors \
     METHODS="['linear_best','linear_ks','cats','dcube_feats']" bash bench/label_efficiency.sh ddpm \
     > logs_gpu2/s$s-d4000.log 2>&1 && log "s$s d4000 done" || log "s$s d4000 FAILED") &
done
stop_at_limit   # bench/gpu_lib.sh: TERM, 3 s, then KILL. The twenty-first session ran its own copy of this loop
                # (KILL at once, polling every 3 s); the runs it stopped are unfinished either way
pack_runs "$DEST/runs_d4000.tar.gz" logs_gpu2 bench/runs/le-pn-s3-h200d4000full bench/runs/le-pn-s4-h200d4000full
log "end"
