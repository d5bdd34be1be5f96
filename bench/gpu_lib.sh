# Shared by the device-machine scripts (bench/gpu_*.sh); sourced, not run.
# gpu_setup: install the carried wheels (.whl/, unless NO_WHL is set) into /tmp/site and point medfx and the harness
# at this checkout, fp32 as on the CPU (no TF32 in cuBLAS / cuDNN).
gpu_setup() {
  if [ -d .whl ] && [ -z "${NO_WHL:-}" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      .whl/*.whl || return 1
  fi
  export MEDFX_SRC=$PWD:/tmp/site NVIDIA_TF32_OVERRIDE=0
  export PYTHONPATH=$MEDFX_SRC PY=${PY:-python3 -P}
}
# pack_runs TARGZ PATH...: run directories and logs without feature banks, weights or TensorBoard files (what comes
# back from the device machine is limited in size)
pack_runs() {
  local out=$1; shift
  tar czf "$out" --exclude=features --exclude=features_grid --exclude='*.npy' --exclude='*.pt' \
    --exclude='*.safetensors' --exclude=tb "$@"
}
# gpu_start: the scripts' common start (after DEST, LIMIT and T0 are set): everything printed also goes to
# $DEST/gpu.log, log() stamps lines with the seconds since T0, the wheels are installed and the versions printed.
gpu_start() {
  exec > >(tee "$DEST/gpu.log") 2>&1
  log() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
  gpu_setup || { log "wheel install failed"; exit 1; }
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || true
  $PY -c "import torch, monai, medfx, sklearn; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'monai', \
monai.__version__, 'sklearn', sklearn.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')" \
    || { log "imports failed"; exit 1; }
  nproc; date -u
}
# stop_at_limit: wait for the background jobs, stopping every medfx run / pretrain still going LIMIT s after T0
stop_at_limit() {
  while [ -n "$(jobs -rp)" ] && [ $(( $(date +%s) - T0 )) -lt "$LIMIT" ]; do sleep 5; done
  if [ -n "$(jobs -rp)" ]; then
    log "LIMIT reached: stopping unfinished jobs"; pkill -TERM -f "medfx (run|pretrain)"; sleep 3
    pkill -KILL -f "medfx (run|pretrain)"; sleep 1
  fi
  nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv 2>/dev/null || true
}
