#!/bin/bash
# Issue 13, thirty-fourth session: AdrenalMNIST3D 28^3 at 5 and 10 labels per class.
#   laneCNN: the CNN baselines for head seeds 3-5 (the goal's ResNet-18 3D, then the small CNN), so that the goal
#            comparison at 5 and 10 labels has six head seeds like the feature heads (the thirtieth session trained
#            seeds 0-2: le-a3d-baselines-d30rn{0,1,2}, -d30cnn{0,1,2}). Runs le-a3d-baselines-d34rn{3,4,5}
#            (ResNet-18 3D, one head seed each) and le-a3d-baselines-d34small345 (small CNN, seeds 3-5).
#   laneTOPK: plan 2, the probe ensemble linear_topk (heads.probe_topk=5, the default, medfx 8f83394) beside
#            linear_best in the same runs, head seeds 0-5 at 5, 10, 25, 50 labels, on the two trained DDPMs
#            (le-a3d-s{0,1}-d34topk, hard links to -d30few's features) and the two random-init U-Nets
#            (le-a3d-random-d34r{0,1}topk, hard links to le-a3d-random-d31ctl01 / -d32r1a's).
#   pnTOPK / pnCNN: declared addition 1 (2D, PneumoniaMNIST 28^2, DATASET=pn): linear_best + linear_topk, head seeds
#            0-5 at 5-50 labels, on README command (a)'s DDPM (DDPM_RUNS/demo33/ckpt-0000300.pt; le-pn-s0-d34topk, hard
#            links to le-pn-s0-d33demo's features), then (pnTOPK, once pnCNN's 2-step DDPM exists) on a random-init
#            U-Net (le-pn-random-d34topk); pnCNN: the ResNet-18 and the small CNN for the same seeds and budgets
#            (le-pn-baselines-d34, whose 2-step throwaway DDPM is that random U-Net).
#   laneINIT2: declared addition 2, a third random-init U-Net (the 2-step throwaway DDPM with run.seed=2,
#            le-a3d-baselines-d34init2, which also re-trains the small CNN of head seed 0 at 5 labels: it must be
#            bit-identical to the thirtieth session's), then linear_best, linear_ks and linear_topk on it (head seeds
#            0-5, 5-50 labels; le-a3d-random-d34r2topk, extracted afresh).
#   laneS50A / laneS50B: declared addition 3, head seeds 3-5 at 50 labels for the CATS-like head and the KS-keys
#            probe (the thirty-second session ran seeds 0-2 there): on DDPM 0 and random init 0 (A), DDPM 1 and init 1
#            (B); runs le-a3d-s{0,1}-d34s345b50 and le-a3d-random-d34r{0,1}s345b50, on hard links.
# fp32 / >= 200-step harness (heads.precision=fp32), one thread per job. Cells still running at STOP are killed and
# not reported.
#   MEDFX_SRC=/work/frozen34 STOP=<epoch s> bash bench/a3d34.sh laneCNN
#   MEDFX_SRC=/work/frozen34b STOP=<epoch s> bash bench/a3d34.sh laneTOPK    # frozen34b: a copy of 8f83394's medfx
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, le_cnn, a3d27_ckpt
export DATASET=adrenal3d
LOG=${LOG:-/work/logs34}/a3d34_${1:-usage}.log   # LOG names the log directory
B='[5,10]'
INIT1=bench/runs/le-a3d-baselines-d32init1/ddpm/ckpt-0000002.pt   # the second random U-Net (thirty-second session)
RN0=bench/runs/le-a3d-baselines-d31rn0/ddpm/ckpt-0000002.pt   # the first random U-Net (thirty-first session)
INIT2=bench/runs/le-a3d-baselines-d34init2/ddpm/ckpt-0000002.pt   # the third (this session, declared addition 2)
SIX="heads.precision=fp32 heads.seeds=[0,1,2,3,4,5]" B4='[5,10,25,50]' P="['linear_best','linear_topk']"
PNRN=bench/runs/le-pn-baselines-d34/ddpm/ckpt-0000002.pt   # the 2D random U-Net (pnCNN's 2-step DDPM)
s345b50() {  # s345b50 N LINK CKPT: addition 3 on DDPM N, then on random init N (LINK: its extraction; CKPT: its U-Net)
  local S50=(BUDGETS='[50]' EXTRA="heads.precision=fp32 heads.seeds=[3,4,5]" METHODS="['linear_ks','cats']")
  le_step "$LOG" "DDPM seed $1, seeds 3-5 at 50" ddpm "${S50[@]}" SUFFIX=-d34s345b50 LINK_FROM=-d30few \
    DDPM_SEEDS=$1 CKPT_S$1="$(a3d27_ckpt $1)"
  le_step "$LOG" "random-init $1, seeds 3-5 at 50" control "${S50[@]}" SUFFIX=-d34r$1s345b50 LINK_FROM=$2 \
    CONTROL_CKPT=$3
}
case "${1:-}" in
  laneCNN)
    for s in 3 4 5; do le_cnn "$LOG" $s "['resnet18']" -d34rn$s "$B"; done
    le_step "$LOG" "small_cnn seeds 3-5 at $B" baselines BUDGETS=$B EXTRA="heads.precision=fp32 heads.seeds=[3,4,5]" \
      SUFFIX=-d34small345 METHODS="['small_cnn']" ;;
  laneTOPK)
    for d in 0 1; do
      le_step "$LOG" "DDPM seed $d, $P at $B4" ddpm BUDGETS=$B4 EXTRA="$SIX" SUFFIX=-d34topk LINK_FROM=-d30few \
        DDPM_SEEDS=$d CKPT_S$d="$(a3d27_ckpt $d)" METHODS="$P"
    done
    le_step "$LOG" "random-init 0, $P at $B4" control BUDGETS=$B4 EXTRA="$SIX" SUFFIX=-d34r0topk \
      LINK_FROM=-d31ctl01 METHODS="$P" CONTROL_CKPT=$RN0
    le_step "$LOG" "random-init 1, $P at $B4" control BUDGETS=$B4 EXTRA="$SIX" SUFFIX=-d34r1topk \
      LINK_FROM=-d32r1a METHODS="$P" CONTROL_CKPT=$INIT1 ;;
  pnTOPK)
    export DATASET=pn
    le_step "$LOG" "demo DDPM, $P at $B4" ddpm BUDGETS=$B4 EXTRA="$SIX" SUFFIX=-d34topk LINK_FROM=-d33demo \
      DDPM_SEEDS=0 CKPT_S0="${DDPM_RUNS:-/work/ddpm_runs}/demo33/ckpt-0000300.pt" METHODS="$P"
    wait_file $PNRN
    le_step "$LOG" "random-init U-Net (pn), $P at $B4" control BUDGETS=$B4 EXTRA="$SIX" SUFFIX=-d34topk \
      METHODS="$P" CONTROL_CKPT=$PNRN ;;
  pnCNN)
    export DATASET=pn
    le_step "$LOG" "pn CNNs seeds 0-5 at $B4" baselines BUDGETS=$B4 EXTRA="$SIX" SUFFIX=-d34 \
      METHODS="['resnet18','small_cnn']" ;;
  laneINIT2)
    le_step "$LOG" "init-2 checkpoint + small CNN seed 0 at 5" baselines BUDGETS='[5]' \
      EXTRA="heads.precision=fp32 heads.seeds=[0] run.seed=2" SUFFIX=-d34init2 METHODS="['small_cnn']"
    le_step "$LOG" "random-init 2, linear probes at $B4" control BUDGETS=$B4 EXTRA="$SIX" SUFFIX=-d34r2topk NOLINK=1 \
      METHODS="['linear_best','linear_ks','linear_topk']" CONTROL_CKPT=$INIT2 ;;
  laneS50A) s345b50 0 -d31ctl01 $RN0 ;;
  laneS50B) s345b50 1 -d32r1a $INIT1 ;;
  *) echo "usage: STOP=<epoch s> $0 laneCNN|laneTOPK|pnTOPK|pnCNN|laneINIT2|laneS50A|laneS50B" >&2; exit 2 ;;
esac
