#!/bin/bash
# Issue 13, twenty-ninth session: the full D-Cube head at budget `all` (no early stopping, heads.patience=30, fp32)
# on the third 2000-step 3D DDPM (a3d27-s2), one head seed per run (le-a3d-s2-d27patdcN), on hard links to
# le-a3d-s2-d28few's feature bank, probe grid and KS map; as the twenty-seventh and twenty-eighth sessions ran it on
# DDPMs 0-1 (le-a3d-s{0,1}-d27patdc{0,1,2}).
#   MEDFX_SRC=/work/frozen22 STOP=<epoch s> bash bench/a3d29_dc.sh HEAD_SEED...   # one cell after the other, one thread
set -uo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # le_step, a3d27_ckpt
LOG=${LOG:-/work/logs29}/a3d29_dc.log   # LOG names the log directory
for h in "$@"; do
  le_step "$LOG" "D-Cube head seed $h" ddpm DATASET=adrenal3d BUDGETS='[all]' LINK_FROM=-d28few SUFFIX=-d27patdc$h \
    DDPM_SEEDS=2 CKPT_S2="$(a3d27_ckpt 2)" METHODS="['dcube']" \
    EXTRA="heads.precision=fp32 heads.patience=30 heads.seeds=[$h]"
done
