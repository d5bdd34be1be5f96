#!/bin/bash
# The README's pooled AdrenalMNIST3D figure (docs/img/label_efficiency_adrenal3d_fp32_nopatience.png) redrawn in the
# twenty-ninth session from committed per-cell files (CPU-light, no run directory needed):
#   bash bench/a3d29_figure.sh check   the twenty-seventh session's figure command re-run to $TMPDIR; its table must
#                                      equal results/label_efficiency_a3d_fp32_all_budgets_nopatience.json as committed
#                                      by that session (4580b92; the file now holds the redrawn figure's table, which
#                                      the default mode reproduces)
#   bash bench/a3d29_figure.sh         the new figure: ResNet-18 3D at 5-25 labels from this session's same-machine
#                                      re-run (le-a3d-baselines-d29rn*, replacing the tenth session's AMD cells and the
#                                      ninth session's transcribed one), and the third DDPM's cells (5-25: le-a3d-s2-d28few;
#                                      all: le-a3d-s2-d27pat and le-a3d-s2-d27patdc{0,1,2}); every other point unchanged
#   bash bench/a3d29_figure.sh s30     the thirtieth session's: as the new figure, with the full D-Cube head and D-Cube's
#                                      image CNN alone at 5-25 labels from bench/a3d30.sh's same-run cells (two DDPMs of the
#                                      recipe retrained on an Intel model 207; results/label_efficiency_a3d30_{few,b25}.json)
#                                      instead of the fifteenth session's AMD cells; their copies of cells already plotted
#                                      (the four cheap feature methods, the ResNet-18 3D and the small CNN, bit-identical
#                                      re-runs) are left out
#   bash bench/a3d29_figure.sh s31     the thirty-first session's: as s30, with the 50-label column from the same
#                                      DDPMs (results/label_efficiency_a3d29_b50.json: the four cheap feature methods on
#                                      three DDPMs and the small CNN; results/label_efficiency_a3d31_b50.json: the full
#                                      D-Cube head on two and D-Cube's image CNN alone) instead of the thirteenth
#                                      session's AMD cells; its bit-identical small CNN copies left out; the ResNet-18
#                                      3D at 50 unchanged
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
T=${TMPDIR:-/tmp}
CELLS=(results/label_efficiency_a3d_d2000_fp32.json
  results/a3d_resnet18_fp32_seedpaired.json results/a3d_resnet18_fp32_b25_seed1_ninth_session.json
  results/a3d_dcube_cnn_fp32_b25_seed0.json results/label_efficiency_a3d_b50_fp32.json
  results/label_efficiency_a3d_ball_fp32.json results/label_efficiency_a3d_b5_25_dcube_fp32.json
  results/a3d_resnet18_fp32_b50_seeds02.json results/a3d_resnet18_fp32_b50_seeds012.json
  results/a3d_fp32_ball_nopatience.json results/a3d27_all_nopatience.json)
EXCL=(le-a3d-baselines-fp32b25dcnn:small_cnn le-a3d-baselines-fp32ball:small_cnn:all
  le-a3d-baselines-fp32ball:dcube_cnn:all le-a3d-s{0,1}-d2000fp32s13:dcube:all
  le-a3d-s{0,1}-d2000fp32s13:dcube_feats:all le-a3d-s{0,1}-d2000fp32patcats0:cats
  le-a3d-s{0,1}-d2000fp32s13:cats:all
  le-a3d-s{0,1}-d27pat:linear_best le-a3d-s{0,1}-d27pat:linear_ks le-a3d-s{0,1}-d27pat:dcube_feats
  le-a3d-baselines-cpu27small{0,1,2}:small_cnn)
METHODS=(linear_best linear_ks cats dcube dcube_feats small_cnn resnet18 dcube_cnn)
TITLE="AdrenalMNIST3D 28^3, 2000-step DDPMs, fp32 harness"
if [ "${1:-}" = check ]; then
  $PY plot_cells_curve.py --cells "${CELLS[@]}" --exclude "${EXCL[@]}" --all-x 200 --methods "${METHODS[@]}" \
    --title "$TITLE" --subtitle check --png $T/a3d29_fig_check.png --out $T/a3d29_fig_check.json > /dev/null
  git show 4580b92:bench/results/label_efficiency_a3d_fp32_all_budgets_nopatience.json > $T/a3d29_fig_ref.json
  $PY - "$T/a3d29_fig_check.json" $T/a3d29_fig_ref.json <<'PYEOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
ta, tb = (d["table"] if isinstance(d, dict) and "table" in d else d for d in (a, b))
print("table identical to the committed one" if ta == tb else "TABLE DIFFERS"); sys.exit(ta != tb)
PYEOF
  exit
fi
# new: the third DDPM's cells and the same-machine ResNet-18 3D at 5-25 (from the twenty-ninth session's summaries),
# without their duplicates (DDPMs 0-1 and the small CNN re-run at 5-25 are already in the files above)
S29=(results/label_efficiency_a3d29_few.json results/label_efficiency_a3d29_all.json)
SUB="5-25: three DDPMs for the probes, CATS-like head and D-Cube w/o CNN, ResNet-18 3D re-run on the same CPU; all: no early stopping, ResNet-18 3D on an H200"
EX30=()
if [ "${1:-}" = s30 ] || [ "${1:-}" = s31 ]; then
  S29+=(results/label_efficiency_a3d30_few.json results/label_efficiency_a3d30_b25.json)
  EX30=(le-a3d-s{0,1}-d2000fp32s13:dcube:{5,10,25} le-a3d-baselines-fp32b25dcnn:dcube_cnn:{5,10,25}
    le-a3d-s{0,1}-d30few:{linear_best,linear_ks,cats,dcube_feats} le-a3d-baselines-d30rn{0,1,2}:resnet18
    le-a3d-baselines-d30cnn{0,1,2}:small_cnn)
  SUB="5-25: three DDPMs for the probes, CATS-like head and D-Cube w/o CNN, two for the full D-Cube head, every CNN re-run on the same CPU; all: no early stopping, ResNet-18 3D on an H200"
fi
if [ "${1:-}" = s31 ]; then
  S29+=(results/label_efficiency_a3d29_b50.json results/label_efficiency_a3d31_b50.json)
  EX30+=(le-a3d-s{0,1}-d2000fp32s13:{linear_best,linear_ks,cats,dcube_feats,dcube}:50
    le-a3d-baselines-fp32b50:{small_cnn,dcube_cnn}:50 le-a3d-baselines-d31b50cnn{0,1,2}:small_cnn)
  SUB="5-50: DDPMs of one CPU type (three for the probes, CATS-like head and D-Cube w/o CNN, two for the full D-Cube head), CNNs re-run on it, except the ResNet-18 3D at 50 (AMD); all: no early stopping, ResNet-18 3D on an H200"
fi
$PY plot_cells_curve.py --cells "${CELLS[@]}" "${S29[@]}" \
  --exclude "${EXCL[@]}" "${EX30[@]}" le-a3d-baselines-fp32rn{0,1,2}:resnet18:5 le-a3d-baselines-fp32rn{0,1,2}:resnet18:10 \
    le-a3d-baselines-fp32rn{0,2}:resnet18:25 le-a3d-baselines-fp32b25rs1:resnet18 \
    le-a3d-baselines-d27fewsmall{0,1,2}:small_cnn le-a3d-s{0,1}-d27few:{linear_best,linear_ks,cats,dcube_feats} \
    le-a3d-s{0,1}-d27patdc{0,1,2}:dcube le-a3d-baselines-cpu27small{0,1,2}:small_cnn \
  --all-x 200 --methods "${METHODS[@]}" --title "$TITLE" \
  --subtitle "$SUB" \
  --png ../docs/img/label_efficiency_adrenal3d_fp32_nopatience.png --out results/label_efficiency_a3d_fp32_all_budgets_nopatience.json
