#!/bin/bash
# Issue 13: the yes/no transfer with 4x more pretraining on one DDPM seed (DDPM_SEED, default 0). The twelfth session
# ran seed 1, the twenty-fourth seed 0 (as bench/yn_transfer_seed0.sh), the twenty-sixth seed 2. BENCHMARKS "Issue
# 13: twenty-fourth session" and "twenty-sixth session" hold the pre-registrations.
#   pool:       1600 steps on the 5155-image brain 4-class pool (yes/no duplicates removed) + 100 fine-tune steps on
#               the 128 yes/no training images (run le-yn-pool-s<seed>-long)
#   target:     1700 steps on the 128 yes/no training images, a checkpoint every 100 steps, so that its step-500
#               checkpoint stands in for the short (500-step) target-only DDPM: the lr is constant after warmup, so
#               the first 500 steps of a 1700-step run are a 500-step run (run le-yn-target-s<seed>-long)
#   t500:       the diffusion-feature methods on that step-500 checkpoint (run le-yn-s<seed>-t500); it waits for
#               step 600, so that step 500 is completely written
# Both arms save every 100 steps: bench/label_efficiency.sh transfer sets train.ckpt_every=$CKPT_EVERY (100) (the
# pool arm keeps the last 10: 700-1600; the target arm all 17). Seed 0's pool arm was started by hand with
# EXTRA='... train.ckpt_every=400 train.keep_ckpts=10', which the script then overrode (same effect) and now refuses
# as a contradiction; `pool` below passes what actually applies.
# Usage (two jobs on two cores: each part first waits until fewer than 2 of the given PIDs are alive, i.e. for a
# free core; t500 also waits for the target arm's step-600 checkpoint):
#   MEDFX_SRC=/work/frozen22 DDPM_SEED=2 bash bench/yn_transfer_seed.sh pool
#   MEDFX_SRC=/work/frozen22 DDPM_SEED=2 bash bench/yn_transfer_seed.sh target [PID1 PID2]
#   MEDFX_SRC=/work/frozen22 DDPM_SEED=2 bash bench/yn_transfer_seed.sh t500 POOL_PID TARGET_PID   # a third job:
#     pass the two running arms' PIDs, or it starts at once (once step 600 exists) beside them
set -uo pipefail
cd "$(dirname "$0")/.."
part=${1:-}; shift || true
S=${DDPM_SEED:-0}
alive() { local n=0 p; for p in "$@"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done; echo $n; }
M="['linear_best','linear_ks','cats','dcube_feats']"
ARMS=(DATASET=yesno64 DDPM_SEED=$S SUFFIX=-s$S-long POOL_STEPS=1600 FT_STEPS=100 BUDGETS='[5,10,25,50,all]')
case "$part" in
  pool|target)
    while [ "$(alive "$@")" -ge 2 ]; do sleep 20; done
    env "${ARMS[@]}" EXTRA="heads.precision=fp32 train.keep_ckpts=$([ "$part" = pool ] && echo 10 || echo 20)" \
      ARM=$part METHODS="$M" bash bench/label_efficiency.sh transfer ;;
  t500)
    while [ "$(alive "$@")" -ge 2 ] || [ ! -e bench/runs/le-yn-target-s$S-long/ddpm/ckpt-0000600.pt ]; do sleep 20; done
    env DATASET=yesno64 DDPM_SEEDS=$S CKPT_S$S=bench/runs/le-yn-target-s$S-long/ddpm/ckpt-0000500.pt SUFFIX=-t500 \
      NOLINK=1 EXTRA='heads.precision=fp32' BUDGETS='[5,10,25,50,all]' METHODS="$M" bash bench/label_efficiency.sh ddpm ;;
  *) echo "usage: $0 pool|target|t500 [PID...]" >&2; exit 2 ;;
esac
