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
