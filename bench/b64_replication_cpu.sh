#!/bin/bash
# Issue 13, twenty-third session: a pre-registered CPU replication of the brain MRI 64^2 5-label result
# (BENCHMARKS "Issue 13: twenty-third session"). Two NEW DDPMs (seeds 2 and 3) of the b64 recipe, 3000 steps, are
# trained first, one thread each (precision=auto: bf16 autocast on a CPU with native bf16):
#
#   for s in 2 3; do OMP_NUM_THREADS=1 PYTHONPATH=$MEDFX_SRC python -P -m medfx pretrain \
#     $DDPM_RUNS/b64-s0/config.yaml run.seed=$s run.name=b64-s$s run.out_dir=$DDPM_RUNS run.threads=1 \
#     run.device=cpu train.precision=auto & done   # b64-s0/config.yaml: the twenty-second session's resolved config
#
# then this script (started at once; each lane waits for its DDPM's done.json) runs two lanes, one core each, on
# the complete de-duplicated split (.dev/brain64_dedup.npz, bench/make_brain64_npz.py), head seeds 0-5, each lane
# stopping at STOP (epoch seconds; cells unfinished then are not reported):
#   lane DDPM seed s (s = 2, 3): the four cheap diffusion methods at 5, 10 and 25 labels per class, then the CNN
#   baseline of the lane at 5 labels (lane 2: ResNet-18, lane 3: small CNN), then the full D-Cube head at 5 labels.
#
#   MEDFX_SRC=/work/frozen22 STOP=$(date -d 22:25 +%s) bash bench/b64_replication_cpu.sh
#   MEDFX_SRC=/work/frozen22 STOP=$(date -d 22:25 +%s) bash bench/b64_replication_cpu.sh add   # after the lanes
set -uo pipefail
cd "$(dirname "$0")/.."
STOP=${STOP:-$(( $(date +%s) + 7200 ))}
X="heads.precision=fp32 data.path=.dev/brain64_dedup.npz data.max_per_split=null heads.seeds=[0,1,2,3,4,5]"
LOGS=${LOGS:-/work/logs23}; mkdir -p "$LOGS"
DDPM_RUNS=${DDPM_RUNS:-/work/ddpm_runs}   # the DDPM runs (checkpoints) the lanes read
source bench/lib.sh   # run_left, wait_for
lane() {
  local s=$1 cnn=$2 log=$LOGS/lane-s$1.log
  while [ ! -e $DDPM_RUNS/b64-s$s/done.json ]; do sleep 30; done   # the lane's DDPM has finished
  run_left "$log" env DATASET=brain64 BUDGETS='[5,10,25]' SUFFIX=-rep23 NOLINK=1 DDPM_SEEDS=$s \
    CKPT_S$s=$DDPM_RUNS/b64-s$s/ckpt-0003000.pt EXTRA="$X" \
    METHODS="['linear_best','linear_ks','cats','dcube_feats']" bash bench/label_efficiency.sh ddpm
  run_left "$log" env DATASET=brain64 BUDGETS='[5]' SUFFIX=-rep23$cnn EXTRA="$X" METHODS="['$cnn']" \
    bash bench/label_efficiency.sh baselines
  run_left "$log" env DATASET=brain64 BUDGETS='[5]' LINK_FROM=-rep23 SUFFIX=-rep23dc DDPM_SEEDS=$s \
    CKPT_S$s=$DDPM_RUNS/b64-s$s/ckpt-0003000.pt EXTRA="$X" METHODS="['dcube']" \
    bash bench/label_efficiency.sh ddpm
}
if [ "${1:-}" = add ]; then
  # the addition declared at 21:45 UTC (before any result of the lanes was looked at): same-run CPU CNN cells at 10
  # and 25 labels (ResNet-18, small CNN) and D-Cube's image CNN alone at 5, 10 and 25 labels, head seeds 0-5
  run_left $LOGS/add-cnn.log env DATASET=brain64 BUDGETS='[10,25]' SUFFIX=-rep23cnn1025 EXTRA="$X" \
    METHODS="['resnet18','small_cnn']" bash bench/label_efficiency.sh baselines &
  run_left $LOGS/add-dcnn.log env DATASET=brain64 BUDGETS='[5,10,25]' SUFFIX=-rep23dcube_cnn EXTRA="$X" \
    METHODS="['dcube_cnn']" bash bench/label_efficiency.sh baselines &
  wait; exit 0
fi
lane 2 resnet18 &
lane 3 small_cnn &
wait
