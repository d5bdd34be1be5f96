#!/bin/bash
# AdrenalMNIST3D 28^3 at budget `all` without early stopping on the twenty-seventh session's two fresh 2000-step 3D
# DDPMs (BENCHMARKS "Issue 13: twenty-seventh session"; runs from bench/a3d27_all.sh): the four diffusion-feature
# methods (le-a3d-s{0,1}-d27pat), the small CNN re-run on this machine (le-a3d-baselines-cpu27small{0,1,2}) and the
# ResNet-18 3D cells of the H200 call (le-a3d-baselines-h200allpat{0,1,2}). Writes results/a3d27_all_nopatience.json
# and prints the pre-registered comparisons (kept in results/a3d27_all_paired.txt); with `dcube`, only the declared
# additions' comparisons (below).
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
D=(runs/le-a3d-s0-d27pat runs/le-a3d-s1-d27pat)
SMALL=(); for k in 0 1 2; do [ -e runs/le-a3d-baselines-cpu27small$k/done.json ] && SMALL+=(runs/le-a3d-baselines-cpu27small$k); done
RN=(runs/le-a3d-baselines-h200allpat{0,1,2})
FEAT=(cats linear_best linear_ks dcube_feats)
# `bash bench/a3d27_summary.sh dcube` (the declared additions): the full D-Cube head's head-seed-0 and -1 cells on the
# retrained DDPMs (le-a3d-s{0,1}-d27patdc{0,1}), and with the twenty-eighth session's head seed 2 (d27patdc2) all six;
# kept in results/a3d27_dcube_paired.txt
dcube_pairs() {
  local DC0=(runs/le-a3d-s0-d27patdc0 runs/le-a3d-s1-d27patdc0); local DC=("${DC0[@]}" runs/le-a3d-s0-d27patdc1 runs/le-a3d-s1-d27patdc1)
  echo "# full D-Cube head, head seed 0, retrained DDPMs (2 cells) minus the small CNN seed 0 (this machine)"
  $PY paired_methods.py --budget all --runs "${DC0[@]}" --ref small_cnn --ref-runs "${SMALL[0]}" --methods dcube
  echo "# the same minus the small CNN, seeds 0-2"
  $PY paired_methods.py --budget all --runs "${DC0[@]}" --ref small_cnn --ref-runs "${SMALL[@]}" --methods dcube
  echo "# the same minus the CATS-like head's seed-0 cells on the same DDPMs"
  $PY paired_methods.py --budget all --runs "${DC0[@]}" --ref cats --ref-runs "${D[@]}" --seeds 0 --methods dcube
  echo "# extended: full D-Cube head, head seeds 0-1, retrained DDPMs (4 cells) minus the small CNN seeds 0-2 (this machine)"
  $PY paired_methods.py --budget all --runs "${DC[@]}" --ref small_cnn --ref-runs "${SMALL[@]}" --methods dcube
  echo "# extended: the same minus the CATS-like head's seed 0-1 cells on the same DDPMs"
  $PY paired_methods.py --budget all --runs "${DC[@]}" --ref cats --ref-runs "${D[@]}" --seeds 0 1 --methods dcube
  # the twenty-eighth session's pre-registered rows: head seed 2 added (le-a3d-s{0,1}-d27patdc2), six cells
  local DC6=("${DC[@]}" runs/le-a3d-s0-d27patdc2 runs/le-a3d-s1-d27patdc2) r
  for r in "${DC6[@]}"; do [ -e "$r/done.json" ] || { echo "# $r not finished: the six-cell rows are not printed"; return 0; }; done
  echo "# twenty-eighth session: full D-Cube head, head seeds 0-2, retrained DDPMs (6 cells) minus the small CNN seeds 0-2"
  $PY paired_methods.py --budget all --runs "${DC6[@]}" --ref small_cnn --ref-runs "${SMALL[@]}" --methods dcube
  echo "# twenty-eighth session: the same minus the CATS-like head's six cells on the same DDPMs"
  $PY paired_methods.py --budget all --runs "${DC6[@]}" --ref cats --ref-runs "${D[@]}" --methods dcube
}
if [ "${1:-}" = dcube ]; then dcube_pairs; exit 0; fi
echo "small CNN runs finished: ${SMALL[*]:-none}"
# the cell means (label_efficiency_summary's own table), then every cell with its best epoch
$PY label_efficiency_summary.py --runs "${SMALL[@]}" "${RN[@]}" "${D[@]}" --budgets all \
  --title "AdrenalMNIST3D 28^3, budget all, no early stopping, fresh 3D DDPMs" --ddpm "2000-step DDPMs a3d27-s{0,1}" \
  --out results/a3d27_all_nopatience.json --png "${TMPDIR:-/tmp}/a3d27_all.png"
$PY - <<'PY'
import json
print("\ncells:")
for c in sorted(json.load(open("results/a3d27_all_nopatience.json"))["cells"],
                key=lambda c: (c["method"], c["run"], c["seed"])):
    print(f"  {c['method']:12s} {c['run']:34s} seed {c['seed']}: macro-F1 {c['f1']:.3f} BACC {c['bacc']:.3f} "
          f"AUC {c['auc']:.3f} best epoch {c.get('best_epoch')}")
PY
echo
echo "# PRIMARY: the CATS-like head (6 cells) minus the small CNN (cells above), then the other methods (secondary)"
$PY paired_methods.py --budget all --runs "${D[@]}" --ref small_cnn --ref-runs "${SMALL[@]}" --methods "${FEAT[@]}"
echo "# secondary: minus the ResNet-18 3D (H200 cells, same subsets and head seeds; another device)"
$PY paired_methods.py --budget all --runs "${D[@]}" "${SMALL[@]}" --ref resnet18 --ref-runs "${RN[@]}" \
  --methods "${FEAT[@]}" small_cnn
echo "# secondary: head seed 0 only (the sixteenth session re-ran only this seed of the CATS-like head)"
$PY paired_methods.py --budget all --seeds 0 --runs "${D[@]}" --ref small_cnn --ref-runs "${SMALL[@]}" --methods cats
