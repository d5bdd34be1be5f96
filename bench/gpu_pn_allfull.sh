#!/bin/bash
# Issue 13, twenty-first session: the PneumoniaMNIST budget-`all` (complete 4708-image split) cells that two CPU
# cores cannot afford in one session, in ONE call on a lent NVIDIA H200 (BENCHMARKS "Issue 13: twenty-first session"):
#
#   A, B  DDPMs of seeds 3 and 4 (`medfx pretrain preset=cpu-28`, the seed-2 DDPM's command, 4000 steps, fp32 with
#         TF32 off), each then the five diffusion methods over the complete split on its 3000-step checkpoint
#         (SUFFIX=-h200d3000full) and its 4000-step checkpoint (SUFFIX=-h200d4000full);
#   C     D-Cube's image CNN alone (SUFFIX=-h200fullcnn);
#   D     the random-init control on the CPU baselines run's 2-step U-Net (SUFFIX=-h200full);
#   E     the five diffusion methods on the CPU-trained seed-2 DDPM (SUFFIX=-h200d3000full): the full D-Cube head, and
#         a CPU-vs-GPU check of the four cheap methods against the twentieth session's CPU cells.
#
# Run from the repository root on the device machine, with OUT=<folder that comes back>, the wheels of the packages
# its image lacks in .whl/ (monai, nibabel, pydicom, ImageHash, PyWavelets) and the carried inputs in .dev/:
#   .dev/pn-s2-3000.safetensors  (EMA weights of /work/ddpm_runs/pn-s2 at step 3000: its model.safetensors)
#   .dev/random-2step.safetensors (bench/runs/le-pn-baselines-avx2full/ddpm/model.safetensors)
# Jobs still running LIMIT seconds after the start are stopped (their cells are not reported); everything finished is
# packed into $OUT (gpu.log, ddpm_s{3,4}.tar.gz, runs_{s3,s4,other}.tar.gz: no feature banks or head weights).
# TEST=1 runs the same chain on a few images and steps (a CPU check of this script).
set -uo pipefail
cd "$(dirname "$0")/.."
DEST=${OUT:?set OUT to the folder that comes back}
LIMIT=${LIMIT:-520}
T0=$(date +%s)
source bench/gpu_lib.sh
gpu_start
mkdir -p logs_gpu ddpm_gpu bench/runs
if [ -n "${TEST:-}" ]; then
  STEPS=4 CKA=2 CKB=4; DD=(train.ckpt_every=2 train.sample_every=0 train.log_every=1 data.max_per_split=40)
  export EXTRA='heads.precision=fp32 data.max_per_split=40 heads.epochs=1 heads.baseline_epochs=1 heads.budget_min_steps=2'
else
  STEPS=4000 CKA=3000 CKB=4000; DD=()
  export EXTRA='heads.precision=fp32 data.max_per_split=null'
fi
export DATASET=pn BUDGETS='[all]'
M5="['linear_best','linear_ks','cats','dcube_feats','dcube']"

to_safetensors() {  # CKPT OUT: the EMA weights of a medfx .pt checkpoint as a .safetensors (what features read)
  $PY -c "import sys; from medfx.models.checkpoint import load_checkpoint, save_safetensors as s
c = load_checkpoint(sys.argv[1]); s(sys.argv[2], c['ema'], c['backbone'], c['config'], c['step'])" "$1" "$2"
}
methods_on() {  # methods_on SEED STEP TAG: the five methods on that DDPM's EMA weights at STEP, in the background
  local s=$1 tag=$3
  (env DDPM_SEEDS=$s CKPT_S$s=ddpm_gpu/pn-s$s/ema-$(printf %07d $2).safetensors SUFFIX=-h200${tag}full \
     METHODS="$M5" bash bench/label_efficiency.sh ddpm > logs_gpu/s$s-$tag.log 2>&1 \
     && log "s$s $tag done" || log "s$s $tag FAILED") &
}
chain() {  # chain SEED: DDPM; the five methods on its step-CKA checkpoint as soon as it is written, then on CKB
  local s=$1 d=ddpm_gpu/pn-s$1 pid
  local ca=$d/ckpt-$(printf %07d $CKA).pt cb=$d/ckpt-$(printf %07d $CKB).pt
  log "DDPM s$s start"
  $PY -m medfx pretrain preset=cpu-28 run.seed=$s run.name=pn-s$s run.out_dir=ddpm_gpu run.threads=2 \
    train.steps=$STEPS train.precision=fp32 train.keep_ckpts=10 "${DD[@]}" > logs_gpu/ddpm-s$s.log 2>&1 &
  pid=$!
  while kill -0 $pid 2>/dev/null && [ ! -e $ca ]; do sleep 2; done
  if [ -e $ca ] && to_safetensors $ca $d/ema-$(printf %07d $CKA).safetensors; then
    log "DDPM s$s step $CKA written"; methods_on $s $CKA d3000
  fi
  wait $pid || { log "DDPM s$s FAILED"; tail -n 5 logs_gpu/ddpm-s$s.log; wait; return 1; }
  to_safetensors $cb $d/ema-$(printf %07d $CKB).safetensors || { wait; return 1; }
  log "DDPM s$s done"; methods_on $s $CKB d4000
  wait
}
job() {  # job NAME COMMAND...: run, log the outcome
  local name=$1; shift
  "$@" > logs_gpu/$name.log 2>&1 && log "$name done" || { log "$name FAILED"; tail -n 5 logs_gpu/$name.log; }
}
chain 3 & chain 4 &
job cnn env SUFFIX=-h200fullcnn METHODS="['dcube_cnn']" bash bench/label_efficiency.sh baselines &
job control env SUFFIX=-h200full CONTROL_CKPT=.dev/random-2step.safetensors bash bench/label_efficiency.sh control &
job s2 env DDPM_SEEDS=2 CKPT_S2=.dev/pn-s2-3000.safetensors SUFFIX=-h200d3000full METHODS="$M5" \
  bash bench/label_efficiency.sh ddpm &
stop_at_limit
log "packing"
for s in 3 4; do
  [ -d ddpm_gpu/pn-s$s ] && tar czf "$DEST/ddpm_s$s.tar.gz" --exclude='*.pt' --exclude=model.safetensors \
    --exclude=tb -C ddpm_gpu pn-s$s
done
# one tar per group, so that no file exceeds what comes back
pack_runs "$DEST/runs_s3.tar.gz" bench/runs/le-pn-s3-h200* 2>/dev/null
pack_runs "$DEST/runs_s4.tar.gz" bench/runs/le-pn-s4-h200* 2>/dev/null
pack_runs "$DEST/runs_other.tar.gz" logs_gpu bench/runs/le-pn-s2-h200* bench/runs/le-pn-random-h200* \
  bench/runs/le-pn-baselines-h200* 2>/dev/null
ls -la "$DEST"; log "end"
