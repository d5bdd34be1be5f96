#!/bin/bash
# Issue 13, forty-second session (BENCHMARKS "Issue 13: forty-second session"): the late-fusion result of the
# forty-first session on PneumoniaMNIST 28^2 repeated on two NEW DDPMs (bench/pn36_ddpm.sh seeds 7 and 8, 3000
# steps, trained this session) and a third set of six labelled draws (head seeds 24-29), every cell trained afresh
# on this machine; analysed by `bench/fuse41_summary.sh pn24` (and `cross`), the three-way fusion by
# bench/fuse42_summary.sh.
#   probes     linear_best, linear_ks, linear_topk on DDPM seed 7, then seed 8 (le-pn-s{7,8}-d42; extracted afresh),
#              each once its 3000-step checkpoint exists
#   cnns       ResNet-18 and small CNN (le-pn-baselines-d42), then the same probes on the random-init U-Net of
#              le-pn-baselines-d38 (le-pn-random-d42, its feature banks linked from le-pn-random-d38)
#   cross      declared addition (the DDPM pair crossed with the draw sets): the same probes on the new DDPMs for head
#              seeds 0-5 and 12-17 (le-pn-s{7,8}-d42s0, -d42s12) and on the old DDPMs pn36-s{5,6} for head seeds
#              24-29 (le-pn-s{5,6}-d42s24); feature banks linked from le-pn-s{7,8}-d42 and le-pn-s{5,6}-d38
#   pkg        declared addition 2: the package's own three-way `fused` (heads.fuse_methods=[linear_topk, small_cnn,
#              resnet18]) in one run on DDPM seed 7, head seeds 24-29 (le-pn-s7-d42pkg, feature banks linked from
#              le-pn-s7-d42; the CNN cells retrained), to compare with the bench's f3 cells (bench/fuse42_summary.sh)
#              run with the repository's medfx (MEDFX_SRC unset: the frozen copy has no `fused`)
# Budgets [5,10,25]; fp32 / >= 200-step harness (heads.precision=fp32), one thread per job, two lanes.
#   MEDFX_SRC=/work/frozen40 STOP=<epoch s> bash bench/pn42.sh probes &   (likewise cnns)
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, wait_ckpt
export DATASET=pn
LOG=${LOG:-/work/logs42}/pn42_${1:-usage}.log   # LOG names the log directory
X="heads.precision=fp32 heads.seeds=[24,25,26,27,28,29] heads.ft_lr_scale=1.0"
B="[5,10,25]"
P="['linear_best','linear_ks','linear_topk']"
ckpt() { echo "${DDPM_RUNS:-/work/ddpm_runs}/pn36-s$1/ckpt-0003000.pt"; }
case "${1:-}" in
  probes)
    for s in 7 8; do
      wait_ckpt "$(ckpt $s)"
      le_step "$LOG" "pn DDPM seed $s, probes, seeds 24-29" ddpm BUDGETS=$B EXTRA="$X" SUFFIX=-d42 NOLINK=1 \
        DDPM_SEEDS=$s CKPT_S$s="$(ckpt $s)" METHODS="$P"
    done ;;
  cnns)
    wait_ckpt "$(ckpt 7)"; wait_ckpt "$(ckpt 8)"   # not beside the DDPMs: two jobs on two cores
    le_step "$LOG" "pn CNNs, seeds 24-29" baselines BUDGETS=$B EXTRA="$X" SUFFIX=-d42 METHODS="['resnet18','small_cnn']"
    le_step "$LOG" "pn random-init probes, seeds 24-29" control BUDGETS=$B EXTRA="$X" SUFFIX=-d42 LINK_FROM=-d38 \
      METHODS="$P" CONTROL_CKPT=bench/runs/le-pn-baselines-d38/ddpm/ckpt-0000002.pt ;;
  cross)
    for s in 7 8; do
      for h in 0 12; do
        le_step "$LOG" "pn DDPM seed $s, probes, seeds $h-$((h + 5))" ddpm BUDGETS=$B \
          EXTRA="${X/24,25,26,27,28,29/$h,$((h + 1)),$((h + 2)),$((h + 3)),$((h + 4)),$((h + 5))}" SUFFIX=-d42s$h \
          LINK_FROM=-d42 DDPM_SEEDS=$s CKPT_S$s="$(ckpt $s)" METHODS="$P"
      done
    done
    for s in 5 6; do
      le_step "$LOG" "pn DDPM seed $s, probes, seeds 24-29" ddpm BUDGETS=$B EXTRA="$X" SUFFIX=-d42s24 LINK_FROM=-d38 \
        DDPM_SEEDS=$s CKPT_S$s="$(ckpt $s)" METHODS="$P"
    done ;;
  pkg)
    le_step "$LOG" "pn DDPM seed 7, the package's three-way fused, seeds 24-29" ddpm BUDGETS=$B \
      EXTRA="$X heads.fuse_methods=[linear_topk,small_cnn,resnet18]" SUFFIX=-d42pkg LINK_FROM=-d42 DDPM_SEEDS=7 \
      CKPT_S7="$(ckpt 7)" METHODS="['linear_topk','small_cnn','resnet18','fused']" ;;
  *) echo "usage: STOP=<epoch s> $0 probes|cnns|cross|pkg" >&2; exit 2 ;;
esac
