#!/bin/bash
# AdrenalMNIST3D 28^3, twenty-ninth session (BENCHMARKS "Issue 13: twenty-ninth session"):
#   bash bench/a3d29_summary.sh        the ResNet-18 3D re-run at 5, 10, 25 labels (le-a3d-baselines-d29rn*, bench/a3d29_rn.sh)
#                                      beside the tenth and ninth sessions' cells, and the pre-registered comparisons of the
#                                      three DDPMs' feature methods and the small CNN against it (kept in
#                                      results/a3d29_rn_paired.txt; table results/label_efficiency_a3d29_few.json)
#   bash bench/a3d29_summary.sh all    DDPM seed 2 at budget `all` (le-a3d-s2-d27pat, and the full D-Cube head's
#                                      le-a3d-s2-d27patdc{0,1,2}, bench/a3d29_dc.sh) beside DDPMs 0-1, against the small CNN
#                                      (kept in results/a3d29_all_paired.txt)
#   bash bench/a3d29_summary.sh b50    50 labels per class on the three DDPMs (le-a3d-s{0,1,2}-d29b50, bench/a3d29_b50.sh)
#                                      against the small CNN re-run beside them (kept in results/a3d29_b50_paired.txt)
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
T=${TMPDIR:-/tmp}
if [ "${1:-few}" = b50 ]; then
  SMALL=(runs/le-a3d-baselines-d29b50small{0,1,2}); FEAT=(runs/le-a3d-s{0,1,2}-d29b50)
  echo "# cell means at 50 labels per class, three DDPMs"
  $PY label_efficiency_summary.py --runs "${SMALL[@]}" "${FEAT[@]}" --budgets 50 \
    --title "AdrenalMNIST3D 28^3, 50 labels per class, three 2000-step DDPMs" --ddpm "2000-step DDPMs a3d27-s{0,1,2}" \
    --out results/label_efficiency_a3d29_b50.json --png $T/a3d29_b50.png
  echo "# 50 labels: three DDPMs pooled minus the small CNN (PRIMARY: linear_ks)"
  $PY paired_methods.py --budget 50 --runs "${FEAT[@]}" --ref small_cnn --ref-runs "${SMALL[@]}"
  echo "# 50 labels: each DDPM minus the small CNN"
  for f in "${FEAT[@]}"; do echo "## $f"; $PY paired_methods.py --budget 50 --runs $f --ref small_cnn --ref-runs "${SMALL[@]}"; done
  exit 0
fi
if [ "${1:-few}" = all ]; then
  SMALL=(runs/le-a3d-baselines-cpu27small{0,1,2}); FEAT=(runs/le-a3d-s{0,1,2}-d27pat{,dc0,dc1,dc2})
  NEW=(runs/le-a3d-s2-d27pat{,dc0,dc1,dc2})
  echo "# cell means at budget all, three DDPMs"
  $PY label_efficiency_summary.py --runs "${SMALL[@]}" "${FEAT[@]}" --budgets all \
    --title "AdrenalMNIST3D 28^3, budget all, three 2000-step DDPMs" --ddpm "2000-step DDPMs a3d27-s{0,1,2}" \
    --out results/label_efficiency_a3d29_all.json --png $T/a3d29_all.png
  echo "# budget all: DDPM seed 2's methods minus the small CNN"
  $PY paired_methods.py --budget all --runs "${NEW[@]}" --ref small_cnn --ref-runs "${SMALL[@]}"
  echo "# budget all: three DDPMs pooled minus the small CNN"
  $PY paired_methods.py --budget all --runs "${FEAT[@]}" --ref small_cnn --ref-runs "${SMALL[@]}"
  exit 0
fi
SMALL=(runs/le-a3d-baselines-d27fewsmall{0,1,2}); FEAT=(runs/le-a3d-s{0,1}-d27few runs/le-a3d-s2-d28few)
RN=(runs/le-a3d-baselines-d29rn{0,1,2a,2b})
echo "# cell means, three DDPMs, small CNN and the ResNet-18 3D re-run"
$PY label_efficiency_summary.py --runs "${SMALL[@]}" "${RN[@]}" "${FEAT[@]}" --budgets 5 10 25 \
  --title "AdrenalMNIST3D 28^3, fp32 harness, three 2000-step DDPMs, same-run ResNet-18 3D" \
  --ddpm "2000-step DDPMs a3d27-s{0,1,2}" --out results/label_efficiency_a3d29_few.json --png $T/a3d29_few.png
echo "# the ResNet-18 cells against the tenth session's (AMD EPYC; not expected identical)"
$PY a3d28_check.py --method resnet18 --show results/label_efficiency_a3d29_few.json \
  results/a3d_resnet18_fp32_seedpaired.json || true
echo "# the seed-1 25-label cell against the ninth session's (this CPU type; printed to 3 decimals)"
$PY a3d28_check.py --method resnet18 --show --partial results/label_efficiency_a3d29_few.json \
  results/a3d_resnet18_fp32_b25_seed1_ninth_session.json || true
for b in 5 10 25; do
  echo "# budget $b: three DDPMs pooled minus the ResNet-18 3D (PRIMARY: linear_ks)"
  $PY paired_methods.py --budget $b --runs "${FEAT[@]}" --ref resnet18 --ref-runs "${RN[@]}"
  echo "# budget $b: the small CNN minus the ResNet-18 3D"
  $PY paired_methods.py --budget $b --runs "${SMALL[@]}" --ref resnet18 --ref-runs "${RN[@]}" --methods small_cnn
done
