#!/bin/bash
# Issue 13, forty-fourth session (BENCHMARKS "Issue 13: forty-fourth session", second pre-registered test): `fuse_ens`
# at 10 labels per class on PneumoniaMNIST 28^2, two new draw sets (head seeds 30-35 and 36-41; run tags s30, s36).
#   random1         a second random-init U-Net: a 2-step throwaway DDPM with run.seed=1 (le-pn-baselines-d44seed1, one
#                   small-CNN cell at head seed 0 for its bookkeeping), then the probes on it, extracted afresh
#                   (le-pn-random-d44r1, head seeds 30-41)
#   probes          the probes on pn36-s{5,6} (feature banks linked from -d38) and pn36-s{7,8} (from -d42), and on
#                   the random-init U-Net of le-pn-baselines-d38 (from le-pn-random-d38), head seeds 30-41
#                   (le-pn-s<seed>-d44, le-pn-random-d44r0)
#   cnns SEEDS TAG  ResNet-18 and small CNN for those head seeds (le-pn-baselines-d44<TAG>)
# Budget [10]; fp32 / >= 200-step harness (heads.precision=fp32), one thread per job, two lanes.
#   MEDFX_SRC=/work/frozen40 STOP=<epoch s> bash bench/pn44.sh probes &
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step
export DATASET=pn
LOG=${LOG:-/work/logs44}/pn44_${1:-usage}${3:-}.log
S="[30,31,32,33,34,35,36,37,38,39,40,41]"
X="heads.precision=fp32 heads.ft_lr_scale=1.0"
P="['linear_best','linear_ks','linear_topk']"
ckpt() { echo "${DDPM_RUNS:-/work/ddpm_runs}/pn36-s$1/ckpt-0003000.pt"; }
case "${1:-}" in
  random1)
    le_step "$LOG" "pn throwaway DDPM run.seed 1" baselines BUDGETS=[10] EXTRA="$X heads.seeds=[0] run.seed=1" \
      SUFFIX=-d44seed1 METHODS="['small_cnn']"
    le_step "$LOG" "pn random-init (run.seed 1) probes, seeds 30-41" control BUDGETS=[10] EXTRA="$X heads.seeds=$S" \
      SUFFIX=-d44r1 NOLINK=1 METHODS="$P" CONTROL_CKPT=bench/runs/le-pn-baselines-d44seed1/ddpm/ckpt-0000002.pt ;;
  probes)
    for s in 5 6 7 8; do
      from=-d38; [ $s -ge 7 ] && from=-d42
      le_step "$LOG" "pn DDPM seed $s, probes at 10, seeds 30-41" ddpm BUDGETS=[10] EXTRA="$X heads.seeds=$S" \
        SUFFIX=-d44 LINK_FROM=$from DDPM_SEEDS=$s CKPT_S$s="$(ckpt $s)" METHODS="$P"
    done
    le_step "$LOG" "pn random-init (run.seed 0) probes at 10, seeds 30-41" control BUDGETS=[10] EXTRA="$X heads.seeds=$S" \
      SUFFIX=-d44r0 LINK_FROM=-d38 METHODS="$P" CONTROL_CKPT=bench/runs/le-pn-baselines-d38/ddpm/ckpt-0000002.pt ;;
  cnns)
    le_step "$LOG" "pn CNNs at 10, seeds $2" baselines BUDGETS=[10] EXTRA="$X heads.seeds=$2" SUFFIX=-d44"$3" \
      METHODS="['resnet18','small_cnn']" ;;
  *) echo "usage: STOP=<epoch s> $0 random1 | probes | cnns SEEDS TAG" >&2; exit 2 ;;
esac
