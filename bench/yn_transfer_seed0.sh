#!/bin/bash
# Issue 13, twenty-fourth session: the yes/no transfer with 4x more pretraining on a SECOND DDPM seed (seed 0; the
# twelfth session ran seed 1 only). BENCHMARKS "Issue 13: twenty-fourth session" holds the pre-registration.
#   pool arm:   1600 steps on the 5155-image brain 4-class pool (yes/no duplicates removed) + 100 fine-tune steps on
#               the 128 yes/no training images (started first, on its own:
#               MEDFX_SRC=/work/frozen22 DATASET=yesno64 DDPM_SEED=0 SUFFIX=-s0-long POOL_STEPS=1600 FT_STEPS=100 \
#                 EXTRA='heads.precision=fp32 train.ckpt_every=400 train.keep_ckpts=10' \
#                 BUDGETS='[5,10,25,50,all]' ARM=pool bash bench/label_efficiency.sh transfer)
#   target arm: 1700 steps on the 128 yes/no training images, a checkpoint every 100 steps, so that its step-500
#               checkpoint stands in for the short (500-step) target-only DDPM: the lr is constant after warmup, so
#               the first 500 steps of a 1700-step run are a 500-step run
#   t500:       the diffusion-feature methods on that step-500 checkpoint (run le-yn-s0-t500); it waits for step 600,
#               so that step 500 is completely written
# `train.ckpt_every` in EXTRA has no effect in `transfer`: bench/label_efficiency.sh passes its own
# train.ckpt_every=100 after EXTRA, so both arms saved every 100 steps (the pool arm kept the last 10: 700-1600; the
# target arm all 17). The commands are kept as they ran.
# Usage (two jobs on two cores: each part waits for a core, i.e. for one of the PIDs of the jobs already running):
#   MEDFX_SRC=/work/frozen22 bash bench/yn_transfer_seed0.sh target PID1 PID2   # starts when PID1 or PID2 ends
#   MEDFX_SRC=/work/frozen22 bash bench/yn_transfer_seed0.sh t500 PID1 PID2     # when both end and step 500 exists
set -uo pipefail
cd "$(dirname "$0")/.."
part=$1; shift
alive() { local n=0 p; for p in "$@"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done; echo $n; }
M="['linear_best','linear_ks','cats','dcube_feats']"
if [ "$part" = target ]; then
while [ "$(alive "$@")" -ge 2 ]; do sleep 20; done
env DATASET=yesno64 DDPM_SEED=0 SUFFIX=-s0-long POOL_STEPS=1600 FT_STEPS=100 \
  EXTRA='heads.precision=fp32 train.ckpt_every=100 train.keep_ckpts=20' BUDGETS='[5,10,25,50,all]' ARM=target \
  METHODS="$M" bash bench/label_efficiency.sh transfer
else
while [ "$(alive "$@")" -ge 1 ] || [ ! -e bench/runs/le-yn-target-s0-long/ddpm/ckpt-0000600.pt ]; do sleep 20; done
env DATASET=yesno64 DDPM_SEEDS=0 CKPT_S0=bench/runs/le-yn-target-s0-long/ddpm/ckpt-0000500.pt SUFFIX=-t500 NOLINK=1 \
  EXTRA='heads.precision=fp32' BUDGETS='[5,10,25,50,all]' METHODS="$M" bash bench/label_efficiency.sh ddpm
fi
