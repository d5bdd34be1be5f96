#!/bin/bash
# Issue 13, forty-first session, declared replication (BENCHMARKS "Issue 13: forty-first session"): six new labelled
# draws (head seeds 12-17) for the late-fusion analysis (bench/fuse41b_summary.sh) on the same DDPMs as the first
# analysis, on this machine. Every cell is new; the feature banks are hard-linked from the earlier runs.
#   pn            PneumoniaMNIST (DDPMs pn36-s5, pn36-s6, 3000 steps; le-pn-s{5,6}-d41, linked from -d38): the probes
#                 at [5,10,25]; the ResNet-18 and small CNN (le-pn-baselines-d41); the probes on the random-init U-Net
#                 of le-pn-baselines-d38 (le-pn-random-d41, linked from -d38)
#   b64probes     brain MRI 64^2 (DDPMs b64-s4, b64-s5): the probes at [5,10] (le-b64-s{4,5}-d41s12, linked from -d39),
#                 the small CNN (le-b64-baselines-d41sc12) and the random-init probes (le-b64-random-d41rs12, linked
#                 from -d41r)
#   b64rn SEEDS TAG   brain MRI: the ResNet-18 at [5,10] for those head seeds (le-b64-baselines-d41<TAG>)
#   a3d           AdrenalMNIST3D at 5 labels, head seeds 18-23 (second declared replication): the probes on a3d27-s{3,4}
#                 (le-a3d-s{3,4}-d41s18, linked from -d40), the small CNN (le-a3d-baselines-d41sc18), the random-init
#                 probes (le-a3d-random-d41rs18, linked from -d40r0)
#   a3drn SEEDS TAG   AdrenalMNIST3D: the ResNet-18 3D at [5] for those head seeds (le-a3d-baselines-d41<TAG>)
#   MEDFX_SRC=/work/frozen40 STOP=<epoch s> bash bench/fuse41b.sh pn &
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step
LOG=${LOG:-/work/logs41}/fuse41b_${1:-usage}${3:-}.log   # LOG names the log directory
S="heads.seeds=[12,13,14,15,16,17]"
P="['linear_best','linear_ks','linear_topk']"
R=${DDPM_RUNS:-/work/ddpm_runs}
BRAIN="heads.precision=fp32 data.path=.dev/brain64_dedup.npz data.max_per_split=null heads.ft_lr_scale=1.0"
case "${1:-}" in
  pn) export DATASET=pn; X="heads.precision=fp32 $S heads.ft_lr_scale=1.0"
      for s in 5 6; do
        le_step "$LOG" "pn DDPM seed $s, probes, seeds 12-17" ddpm BUDGETS=[5,10,25] EXTRA="$X" SUFFIX=-d41 LINK_FROM=-d38 \
          DDPM_SEEDS=$s CKPT_S$s="$R/pn36-s$s/ckpt-0003000.pt" METHODS="$P"
      done
      le_step "$LOG" "pn CNNs, seeds 12-17" baselines BUDGETS=[5,10,25] EXTRA="$X" SUFFIX=-d41 \
        METHODS="['resnet18','small_cnn']"
      le_step "$LOG" "pn random-init probes, seeds 12-17" control BUDGETS=[5,10,25] EXTRA="$X" SUFFIX=-d41 LINK_FROM=-d38 \
        METHODS="$P" CONTROL_CKPT=bench/runs/le-pn-baselines-d38/ddpm/ckpt-0000002.pt ;;
  b64probes) export DATASET=brain64
      X="$BRAIN $S"
      for s in 4 5; do
        le_step "$LOG" "brain DDPM seed $s, probes, seeds 12-17" ddpm BUDGETS=[5,10] EXTRA="$X" SUFFIX=-d41s12 \
          LINK_FROM=-d39 DDPM_SEEDS=$s CKPT_S$s="$R/b64-s$s/ckpt-0003000.pt" METHODS="$P"
      done
      le_step "$LOG" "brain small CNN, seeds 12-17" baselines BUDGETS=[5,10] EXTRA="$X" SUFFIX=-d41sc12 \
        METHODS="['small_cnn']"
      le_step "$LOG" "brain random-init probes, seeds 12-17" control BUDGETS=[5,10] EXTRA="$X" SUFFIX=-d41rs12 \
        LINK_FROM=-d41r METHODS="$P" CONTROL_CKPT=bench/runs/le-b64-baselines-d39rn5/ddpm/ckpt-0000002.pt ;;
  b64rn) export DATASET=brain64
      X=$BRAIN
      le_step "$LOG" "brain ResNet-18, seeds $2" baselines BUDGETS=[5,10] EXTRA="$X heads.seeds=$2" SUFFIX=-d41"$3" \
        METHODS="['resnet18']" ;;
  a3d) export DATASET=adrenal3d; X="heads.precision=fp32 heads.seeds=[18,19,20,21,22,23]"
      for s in 3 4; do
        le_step "$LOG" "3D DDPM seed $s, probes, seeds 18-23" ddpm BUDGETS=[5] EXTRA="$X" SUFFIX=-d41s18 \
          LINK_FROM=-d40 DDPM_SEEDS=$s CKPT_S$s="$R/a3d27-s$s/ckpt-0002000.pt" METHODS="$P"
      done
      le_step "$LOG" "3D small CNN, seeds 18-23" baselines BUDGETS=[5] EXTRA="$X" SUFFIX=-d41sc18 METHODS="['small_cnn']"
      le_step "$LOG" "3D random-init probes, seeds 18-23" control BUDGETS=[5] EXTRA="$X" SUFFIX=-d41rs18 \
        LINK_FROM=-d40r0 METHODS="$P" CONTROL_CKPT=bench/runs/le-a3d-baselines-d40small/ddpm/ckpt-0000002.pt ;;
  a3drn) export DATASET=adrenal3d
      le_step "$LOG" "3D ResNet-18, seeds $2" baselines BUDGETS=[5] EXTRA="heads.precision=fp32 heads.seeds=$2" \
        SUFFIX=-d41"$3" METHODS="['resnet18']" ;;
  *) echo "usage: STOP=<epoch s> $0 pn | b64probes | b64rn SEEDS TAG | a3d | a3drn SEEDS TAG" >&2; exit 2 ;;
esac
