#!/bin/bash
# Issue 13, fortieth session (BENCHMARKS "Issue 13: fortieth session", pre-registered): AdrenalMNIST3D 28^3 at 5 and
# 10 labels per class on a THIRD set of six labelled draws (head seeds 12-17) and on two NEW 2000-step 3D DDPMs
# (a3d27-s3, a3d27-s4: bench/a3d27_ddpm.sh 3 / 4, trained on this machine), the comparison of bench/a3d34.sh (seeds
# 0-5) and bench/a3d36.sh (seeds 6-11) with the same harness and methods:
#   laneA: (once a3d27-s3's step-2000 checkpoint exists) linear_best, linear_ks, linear_topk on DDPM 3
#          (le-a3d-s3-d40, extracted afresh); the ResNet-18 3D, head seeds 12, 13, 14 (le-a3d-baselines-d40rn<s>);
#          then linear_best + linear_topk on the random-init U-Net of laneB's small-CNN run (le-a3d-random-d40r0)
#   laneB: (once a3d27-s4's checkpoint exists) the small CNN, seeds 12-17 (le-a3d-baselines-d40small, whose 2-step
#          throwaway DDPM is that random U-Net); the probes on DDPM 4 (le-a3d-s4-d40); the ResNet-18 3D, head seeds
#          15, 16, 17
#   ft D:  declared addition (after the primary was read): backbone_ft (the DDPM's U-Net fine-tuned end to end from
#          the probe grid's best (block, t), heads.ft_lr_scale 1.0, the package default) beside linear_best on DDPM
#          D (3 or 4) at 5 labels per class, head seeds 12-17 (le-a3d-s<D>-d40ft, hard links to -d40's features);
#          `ft D 10`: the same at 10 labels (le-a3d-s<D>-d40ft10; second declared addition)
# fp32 / >= 200-step harness (heads.precision=fp32), one thread per job. Cells still running at STOP are killed and
# not reported.
#   MEDFX_SRC=/work/frozen40 STOP=<epoch s> bash bench/a3d40.sh laneA &   (likewise laneB)
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, le_cnn, a3d27_wait_ckpt, wait_file
export DATASET=adrenal3d
LOG=${LOG:-/work/logs40}/a3d40_${1:-usage}${2:-}${3:-}.log
B='[5,10]' NEW="heads.precision=fp32 heads.seeds=[12,13,14,15,16,17]" P="['linear_best','linear_ks','linear_topk']"
RND=bench/runs/le-a3d-baselines-d40small/ddpm/ckpt-0000002.pt   # laneB's 2-step DDPM: the random-init U-Net
probes() {  # probes DDPM_SEED: the three probes on that new DDPM's step-2000 checkpoint
  local ck; ck=$(a3d27_wait_ckpt "$1")
  le_step "$LOG" "DDPM seed $1, seeds 12-17 at $B" ddpm BUDGETS=$B EXTRA="$NEW" SUFFIX=-d40 NOLINK=1 \
    DDPM_SEEDS=$1 CKPT_S$1="$ck" METHODS="$P"
}
case "${1:-}" in
  laneA)
    probes 3
    for s in 12 13 14; do le_cnn "$LOG" $s "['resnet18']" -d40rn$s "$B"; done
    wait_file "$RND"
    le_step "$LOG" "random-init 0, seeds 12-17 at $B" control BUDGETS=$B EXTRA="$NEW" SUFFIX=-d40r0 NOLINK=1 \
      METHODS="['linear_best','linear_topk']" CONTROL_CKPT=$RND ;;
  laneB)
    a3d27_wait_ckpt 4 > /dev/null
    le_step "$LOG" "small_cnn seeds 12-17 at $B" baselines BUDGETS=$B EXTRA="$NEW" SUFFIX=-d40small \
      METHODS="['small_cnn']"
    probes 4
    for s in 15 16 17; do le_cnn "$LOG" $s "['resnet18']" -d40rn$s "$B"; done ;;
  ft)
    case "${2:-}/${3:-5}" in 3/5|4/5|3/10|4/10) ;; *) echo "usage: STOP=<epoch s> $0 ft 3|4 [5|10]" >&2; exit 2 ;; esac
    sfx=-d40ft; [ "${3:-5}" = 10 ] && sfx=-d40ft10
    le_step "$LOG" "backbone_ft on DDPM seed $2, seeds 12-17 at [${3:-5}]" ddpm BUDGETS="[${3:-5}]" EXTRA="$NEW" \
      SUFFIX=$sfx LINK_FROM=-d40 DDPM_SEEDS=$2 CKPT_S$2="$(a3d27_ckpt "$2")" METHODS="['linear_best','backbone_ft']" ;;
  *) echo "usage: STOP=<epoch s> $0 laneA|laneB|ft 3|4 [5|10]" >&2; exit 2 ;;
esac
