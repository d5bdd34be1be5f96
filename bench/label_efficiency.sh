#!/bin/bash
# Issue 13: learning curves (labels per class 5, 10, 25, 50) and the pretraining-compute curve.
#
#   bash bench/label_efficiency.sh baselines          # CNN baselines + D-Cube's CNN branch alone (no DDPM involved)
#   CKPT_S0=... CKPT_S1=... bash bench/label_efficiency.sh ddpm   # diffusion-feature methods, one run per DDPM seed
#   bash bench/label_efficiency.sh control          # the same feature methods on the ~random-init U-Net (control)
#   bash bench/label_efficiency.sh compute            # few-label probe at every saved checkpoint of both DDPMs
#   bash bench/label_efficiency.sh summary            # combined table + figure (bench/results, docs/img)
#
# DATASET selects the data (default pn):
#   pn        PneumoniaMNIST 28^2, preset cpu-28, a seeded stratified 1000-image training subsample
#   brain64   brain_tumor_mri_4class 64^2, the de-duplicated split bench/data/brain4_dedup.csv (exact AND near
#             duplicates across splits removed: `medfx data check ../shared/data/brain_tumor_mri_4class --dedup
#             bench/data/brain4_dedup.csv`), preset cpu-64, 1000-image training subsample, D-Cube CNN width 0.25
#   adrenal3d AdrenalMNIST3D 28^3, preset cpu-3d-28, 400-volume training subsample, D-Cube CNN width 0.25
#   yesno64   brain_tumor_mri_yesno 64^2 (the transfer target), all 228 de-duplicated images, split 128 / 27 / 73
#             (`medfx data check ../shared/data/brain_tumor_mri_yesno --val-fraction 0.15 --test-fraction 0.35
#             --dedup bench/data/yesno_dedup.csv`), preset cpu-64, D-Cube CNN width 0.25
#
# Transfer (DATASET=yesno64; the MRI paper's setting): `ARM=pool bash bench/label_efficiency.sh transfer` pretrains
# the DDPM on the brain_tumor_mri_4class pool with every yes/no duplicate removed (bench/make_transfer_pool.py),
# POOL_STEPS steps (400), then fine-tunes it on the yes/no training images for FT_STEPS steps (100);
# `ARM=target ...` trains the same DDPM on the yes/no training images alone for POOL_STEPS + FT_STEPS steps (the
# same compute). Both then run the diffusion-feature methods at the same budgets, seeds and splits.
#
# DDPMs: unconditional U-Nets of the preset, trained by the lead on ALL training images of the dataset WITHOUT labels,
# seeds 0 and 1 (/work/ddpm_runs/{pn,b64,a3d}-s{0,1}). The training subsample only bounds the feature extraction;
# the nested budgets are drawn from it; validation and test are complete. The subsets of a seed are identical
# across the run directories of a dataset (checked by summary).
set -euo pipefail
cd "$(dirname "$0")/.."
# MEDFX_SRC: a frozen copy of the package to import (so that editing the worktree cannot break a queued run)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD}
# -P: import medfx from PYTHONPATH, not the working directory; the repo's venv when it has one
PY=${PY:-$([ -x .venv/bin/python ] && echo "$PWD/.venv/bin/python" || echo python) -P}
OUT=bench/runs
BUDGETS=${BUDGETS:-[5,10,25,50]}
DATASET=${DATASET:-pn}
case "$DATASET" in
  pn)        TAG=pn;  DATA=(preset=cpu-28 data.max_per_split=1000 heads.dcube_widen=0.5)
             TITLE="PneumoniaMNIST 28x28"; PNG=label_efficiency_pneumonia28.png ;;
  brain64)   TAG=b64; DATA=(preset=cpu-64 data.path=bench/data/brain4_dedup.csv data.max_per_split=1000
                            heads.dcube_widen=0.25)
             TITLE="brain MRI 4-class 64x64 (de-duplicated)"; PNG=label_efficiency_brain64.png ;;
  adrenal3d) TAG=a3d; DATA=(preset=cpu-3d-28 data.max_per_split=400 heads.dcube_widen=0.25)
             TITLE="AdrenalMNIST3D 28^3"; PNG=label_efficiency_adrenal3d.png ;;
  yesno64)   TAG=yn;  DATA=(preset=cpu-64 data.path=bench/data/yesno_dedup.csv heads.dcube_widen=0.25)
             TITLE="brain MRI yes/no 64x64 (transfer target)"; PNG=label_efficiency_yesno64.png ;;
  *) echo "DATASET must be pn, brain64, adrenal3d or yesno64" >&2; exit 2 ;;
esac
COMMON=("${DATA[@]}" run.out_dir=$OUT run.threads=1
        "heads.label_budgets=$BUDGETS" "heads.seeds=[0,1,2]" heads.select_metric=bacc heads.budget_min_steps=200
        heads.epochs=30 heads.baseline_epochs=30 heads.patience=8 heads.cats_width=64
        "features.timesteps=[0,10,50,200]" "gaussianity.top_k=3")
# EXTRA: further key=value overrides (space-separated), e.g. the CPU-budget settings of brain64 / adrenal3d:
#   EXTRA="heads.precision=bf16 heads.budget_min_steps=100"
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"
COMMON+=("${EXTRA_ARGS[@]}")
# SUFFIX: appended to every run name, for a second harness on the same data (e.g. SUFFIX=-fp32 with other EXTRA).
# With SUFFIX set, `ddpm` and `control` start each new run from hard links to the feature banks, probe grid and
# Gaussianity map of the unsuffixed run of the same name when it exists (bench/lib.sh; reused only if their
# settings match). NOLINK=1 starts suffixed runs empty (e.g. for another checkpoint, whose features differ anyway).
# LINK_FROM=-other starts them from the run with that other suffix instead (e.g. LINK_FROM=-d2000fp32s13 SUFFIX=-pat1
# retrains heads with other settings on the features of le-...-s0-d2000fp32s13).
SFX=${SUFFIX:-}
source bench/lib.sh
start_from_cached() {  # start_from_cached NAME: le-...-s0$LINK_FROM -> le-...-s0$SFX
  local src=$OUT/$1${LINK_FROM:-}
  if [ -n "$SFX" ] && [ -z "${NOLINK:-}" ] && [ -d "$src" ] && [ ! -e "$OUT/$1$SFX" ]; then link_cached_run "$src" "$OUT/$1$SFX"; fi
}

case "${1:-}" in
  baselines)
    # The CNN baselines and D-Cube's image branch never read diffusion features; the pipeline still needs a
    # checkpoint for its bookkeeping, so this run trains a 2-step throwaway DDPM and extracts one cheap key.
    nice -n 5 $PY -m medfx run "${COMMON[@]}" run.name=le-$TAG-baselines$SFX train.steps=2 train.ckpt_every=2 \
      train.log_every=1 "features.blocks=['mid']" "features.timesteps=[0]" "gaussianity.top_k=1" \
      "heads.methods=${METHODS:-['resnet18','small_cnn','dcube_cnn']}" \
      "pipeline.stages=['pretrain','extract','probe','gaussianity','heads']"
    ;;
  ddpm)
    for s in ${DDPM_SEEDS:-0 1}; do
      ck=CKPT_S$s
      start_from_cached le-$TAG-s$s
      nice -n 5 $PY -m medfx run "${COMMON[@]}" run.name=le-$TAG-s$s$SFX "pipeline.checkpoint=${!ck}" \
        "heads.methods=${METHODS:-['linear_best','linear_ks','cats','dcube','dcube_feats']}" \
        "pipeline.stages=['extract','probe','gaussianity','heads']"
    done
    ;;
  transfer)
    steps=${POOL_STEPS:-400}; ft=${FT_STEPS:-100}
    # the checkpoint interval is CKPT_EVERY (100); a train.ckpt_every in EXTRA contradicts it and stops the script
    # before any work (the twelfth and twenty-fourth sessions' commands had train.ckpt_every=400 there, which this
    # script then overrode: their arms saved every 100 steps, CKPT_EVERY's default; drop it to re-run them)
    case " ${EXTRA:-} " in *" train.ckpt_every="*)
      echo "label_efficiency.sh transfer: train.ckpt_every in EXTRA contradicts CKPT_EVERY (${CKPT_EVERY:-100}), which sets the checkpoint interval: set CKPT_EVERY and drop train.ckpt_every from EXTRA" >&2
      exit 2 ;;
    esac
    DDPM=(train.batch_size=32 train.ckpt_every=${CKPT_EVERY:-100} train.sample_every=0 train.log_every=10
          run.seed=${DDPM_SEED:-0})
    case "${ARM:-}" in
      pool)   DDPM+=("pipeline.pretrain_data=[${POOL:-bench/data/brain4_pool_minus_yesno.csv}]" train.steps=$steps
                     pipeline.finetune_steps=$ft) ;;
      target) DDPM+=(train.steps=$((steps + ft))) ;;
      *) echo "transfer needs ARM=pool or ARM=target" >&2; exit 2 ;;
    esac
    nice -n 5 $PY -m medfx run "${COMMON[@]}" run.name=le-$TAG-$ARM$SFX "${DDPM[@]}" \
      "heads.methods=${METHODS:-['linear_best','linear_ks','cats','dcube_feats']}" \
      "pipeline.stages=['pretrain','finetune','extract','probe','gaussianity','heads']"
    ;;
  control)
    # the same cheap diffusion-feature methods on the ~random-initialised U-Net of the baselines run (2 steps, EMA):
    # does the gain come from diffusion pretraining or from a frozen multi-scale CNN? CONTROL_CKPT: another
    # baselines run's checkpoint (e.g. bench/runs/le-pn-baselines-avx2/ddpm/ckpt-0000002.pt)
    start_from_cached le-$TAG-random
    nice -n 5 $PY -m medfx run "${COMMON[@]}" run.name=le-$TAG-random$SFX \
      "pipeline.checkpoint=${CONTROL_CKPT:-$OUT/le-$TAG-baselines/ddpm/ckpt-0000002.pt}" \
      "heads.methods=${METHODS:-['linear_best','linear_ks','cats','dcube_feats']}" \
      "pipeline.stages=['extract','probe','gaussianity','heads']"
    ;;
  compute)
    for s in 0 1; do
      nice -n 5 $PY bench/pretrain_compute_curve.py --ckpts $OUT/ckpt_copies/pn-s$s/ckpt-*.pt --budget 10 \
        --seeds 0 1 2 --out bench/results/pretrain_compute_pn-s$s.json
    done
    ;;
  summary)
    ctl=(); [ -d $OUT/le-$TAG-random ] && ctl=(--control $OUT/le-$TAG-random)
    $PY bench/label_efficiency_summary.py --runs $OUT/le-$TAG-baselines $OUT/le-$TAG-s0 $OUT/le-$TAG-s1 "${ctl[@]}" \
      --title "$TITLE" --ddpm "${DDPM_DESC:-}" --out bench/results/label_efficiency_$TAG.json \
      --png docs/img/$PNG
    ;;
  *) echo "usage: $0 baselines|ddpm|transfer|control|compute|summary" >&2; exit 2 ;;
esac
