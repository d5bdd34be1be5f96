#!/bin/bash
# Issue 13, twenty-second session: brain_tumor_mri_4class 64^2 (de-duplicated split) learning curves on budgets 5, 10,
# 25, 50 and `all` (the complete 5667-image training split), every method, in ONE call on a lent NVIDIA H200
# (BENCHMARKS "Issue 13: twenty-second session"). Nothing of the earlier brain runs survives on this machine, so the
# CNN baselines, both DDPMs and the random-init control are all trained here, on the same splits and head seeds:
#
#   base-k   ResNet-18, small CNN and D-Cube's image CNN alone, head seed k (SUFFIX=-h200s$k), k = 0, 1, 2
#   ctl-k    the five diffusion methods on the ~random-init U-Net of base-0 (its 2-step DDPM), head seed k
#   DDPMs    seeds 0 and 1 (`medfx pretrain preset=cpu-64`, the b64-s* recipe: batch 32, lr 5e-4, 3000 steps, fp32
#            with TF32 off), then the five diffusion methods on each one's step-3000 EMA weights, one run per head
#            seed (SUFFIX=-h200d3000s$k)
#   a3d-k    AdrenalMNIST3D: the ResNet-18 3D at budget `all` without early stopping (the sixteenth session's rule,
#            heads.patience=30), head seed k
#
# Data: .dev/brain64_dedup.npz (bench/make_brain64_npz.py: the manifest bench/data/brain4_dedup.csv resized to 64^2
# by medfx, uint8). Wheels of what the device image lacks in .whl/. Jobs still running LIMIT seconds after the start
# are stopped (their finished cells are kept; unfinished ones are not reported). Packed into $OUT: gpu.log,
# ddpm_s{0,1}.tar.gz (logs, config and the step-3000 EMA weights), runs_s{0,1}.tar.gz, runs_other.tar.gz (no
# feature banks or head weights). TEST=1 runs the same chain on a few images and steps (a CPU check of this script).
set -uo pipefail
cd "$(dirname "$0")/.."
DEST=${OUT:?set OUT to the folder that comes back}
LIMIT=${LIMIT:-540}
T0=$(date +%s)
source bench/gpu_lib.sh
gpu_start
mkdir -p logs_gpu ddpm_gpu bench/runs
NPZ=.dev/brain64_dedup.npz
if [ -n "${TEST:-}" ]; then
  STEPS=4; DD=(train.ckpt_every=2 train.log_every=1 data.max_per_split=40)
  SMALL='data.max_per_split=40 heads.epochs=1 heads.baseline_epochs=1 heads.budget_min_steps=2'
  BUD='[5,all]'
else
  STEPS=3000; DD=(); SMALL='data.max_per_split=null'; BUD='[5,10,25,50,all]'
fi
M5="['linear_best','linear_ks','cats','dcube_feats','dcube']"

job() {  # job NAME COMMAND...: run in the background, log the outcome
  local name=$1; shift
  ( "$@" > logs_gpu/$name.log 2>&1 && log "$name done" || { log "$name FAILED"; tail -n 3 logs_gpu/$name.log; } ) &
}
b64() {  # b64 HEAD_SEED ENV... -- ARGS...: the brain harness with this call's data, budgets and one head seed
  local k=$1; shift
  env DATASET=brain64 BUDGETS="$BUD" EXTRA="heads.precision=fp32 data.path=$NPZ $SMALL heads.seeds=[$k]" "$@"
}
ddpm_chain() {  # ddpm_chain SEED: DDPM, then the five methods on its last checkpoint, one run per head seed
  local s=$1 d=ddpm_gpu/b64-s$1
  log "DDPM s$s start"
  $PY -m medfx pretrain preset=cpu-64 data.path=$NPZ run.seed=$s run.name=b64-s$s run.out_dir=ddpm_gpu \
    run.threads=2 train.steps=$STEPS train.batch_size=32 train.sample_every=0 train.precision=fp32 "${DD[@]}" \
    > logs_gpu/ddpm-s$s.log 2>&1 || { log "DDPM s$s FAILED"; tail -n 5 logs_gpu/ddpm-s$s.log; return 1; }
  local ck=$d/ckpt-$(printf %07d $STEPS).pt
  log "DDPM s$s done"
  for k in 0 1 2; do
    job s$s-k$k b64 $k DDPM_SEEDS=$s CKPT_S$s=$ck SUFFIX=-h200d3000s$k METHODS="$M5" bash bench/label_efficiency.sh ddpm
  done
  wait
}
for k in 0 1 2; do
  job base-k$k b64 $k SUFFIX=-h200s$k bash bench/label_efficiency.sh baselines
  job a3d-k$k env DATASET=adrenal3d BUDGETS='[all]' SUFFIX=-h200allpat$k METHODS="['resnet18']" \
    EXTRA="heads.precision=fp32 heads.patience=30 heads.seeds=[$k] ${TEST:+$SMALL}" bash bench/label_efficiency.sh baselines
done
ddpm_chain 0 & ddpm_chain 1 &
# the random-init control reads base-0's 2-step DDPM once its pretrain stage is complete
R=bench/runs/le-b64-baselines-h200s0
while [ ! -e $R/stages/pretrain.json ] && [ $(( $(date +%s) - T0 )) -lt "$LIMIT" ]; do sleep 2; done
for k in 0 1 2; do
  job ctl-k$k b64 $k SUFFIX=-h200s$k CONTROL_CKPT=$R/ddpm/ckpt-0000002.pt METHODS="$M5" \
    bash bench/label_efficiency.sh control
done
stop_at_limit
log "packing"
for s in 0 1; do
  d=ddpm_gpu/b64-s$s; ck=$d/ckpt-$(printf %07d $STEPS).pt
  [ -e $ck ] && $PY -c "import sys; from medfx.models.checkpoint import load_checkpoint, save_safetensors as s
c = load_checkpoint(sys.argv[1]); s(sys.argv[2], c['ema'], c['backbone'], c['config'], c['step'])" $ck $d/ema-last.safetensors
  [ -d $d ] && tar czf "$DEST/ddpm_s$s.tar.gz" --exclude='*.pt' --exclude=model.safetensors --exclude=tb \
    --exclude='samples*' -C ddpm_gpu b64-s$s
done
# one tar per group, so that no file exceeds what comes back
pack_runs "$DEST/runs_s0.tar.gz" bench/runs/le-b64-s0-h200* 2>/dev/null
pack_runs "$DEST/runs_s1.tar.gz" bench/runs/le-b64-s1-h200* 2>/dev/null
pack_runs "$DEST/runs_other.tar.gz" logs_gpu bench/runs/le-b64-baselines-h200* bench/runs/le-b64-random-h200* \
  bench/runs/le-a3d-baselines-h200* 2>/dev/null
ls -la "$DEST"; log "end"
