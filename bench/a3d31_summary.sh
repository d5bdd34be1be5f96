#!/bin/bash
# AdrenalMNIST3D 28^3, thirty-first session (BENCHMARKS "Issue 13: thirty-first session"; runs of bench/a3d31.sh):
# the full D-Cube head on the two retrained 3D DDPMs against the CNNs trained beside it, per test volume.
#   bash bench/a3d31_summary.sh > bench/results/a3d31_b25_paired.txt   25 labels: the head (le-a3d-s{0,1}-d30b25,
#        thirtieth session) minus the ResNet-18 3D (le-a3d-baselines-d31rn{0,1,2}) and the small CNN (-d31small{0,1,2});
#        table results/label_efficiency_a3d31_b25.json
#   bash bench/a3d31_summary.sh b50 > bench/results/a3d31_b50_paired.txt   50 labels: the head (le-a3d-s{0,1}-d31b50)
#        minus D-Cube's image CNN alone and the small CNN (le-a3d-baselines-d31b50cnn{0,1,2});
#        table results/label_efficiency_a3d31_b50.json
#   bash bench/a3d31_summary.sh ctl > bench/results/a3d31_ctl_paired.txt   declared addition: the full D-Cube head on the
#        trained DDPMs (-d30few at 10, -d31b50 at 50) minus the same head on the random-init U-Net
#        (le-a3d-random-d31ctl01, -d31ctl2); table results/label_efficiency_a3d31_ctl.json
#   bash bench/a3d31_summary.sh ctl5 > bench/results/a3d31_ctl5_paired.txt   second declared addition: the same at 5
#        and 25 labels (le-a3d-random-d31ctl5_01, -d31ctl5_2); table results/label_efficiency_a3d31_ctl5.json
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
T=${TMPDIR:-/tmp}
# the random-init control (declared additions): the pretrained full head's runs and D-Cube's image CNN alone per budget
pre_runs() { case $1 in 5|10) echo runs/le-a3d-s{0,1}-d30few ;; 25) echo runs/le-a3d-s{0,1}-d30b25 ;;
                        50) echo runs/le-a3d-s{0,1}-d31b50 ;; esac; }
cnn_runs() { case $1 in 5|10) echo runs/le-a3d-baselines-d30cnn{0,1,2} ;; 25) echo runs/le-a3d-baselines-d30b25cnn{0,1,2} ;;
                        50) echo runs/le-a3d-baselines-d31b50cnn{0,1,2} ;; esac; }
ctl_table() {  # ctl_table NAME TITLE BUDGETS...: cell means of the random-init head (results/label_efficiency_a3d31_NAME.json)
  local name=$1 title=$2; shift 2
  $PY label_efficiency_summary.py --runs "${CTL[@]}" --budgets "$@" --title "$title" \
    --ddpm "random-init U-Net (2-step throwaway DDPM)" --out results/label_efficiency_a3d31_$name.json --png $T/a3d31_$name.png
}
vs_random() {  # vs_random BUDGET [RUNS...]: the full D-Cube head on the trained DDPMs (or RUNS) minus the random-init head
  local b=$1; shift
  $PY paired_methods.py --budget $b --runs ${@:-$(pre_runs $b)} --against-runs "${CTL[@]}" --methods dcube
}
random_vs_cnn() {  # random_vs_cnn BUDGET: the random-init head minus D-Cube's image CNN alone
  $PY paired_methods.py --budget $1 --runs "${CTL[@]}" --ref dcube_cnn --ref-runs $(cnn_runs $1) --methods dcube
}
if [ "${1:-}" = ctl5 ]; then  # the second declared addition: the same at 5 and 25 labels
  CTL=(runs/le-a3d-random-d31ctl5_01 runs/le-a3d-random-d31ctl5_2)
  ctl_table ctl5 "AdrenalMNIST3D 28^3, full D-Cube head on the random-init U-Net, 5 and 25 labels (thirty-first session)" 5 25
  for b in 5 25; do
    echo "# budget $b: the full D-Cube head on the trained DDPMs minus the same head on the random-init U-Net"
    vs_random $b
    echo "# budget $b: the random-init head minus D-Cube's image CNN alone (thirtieth session's cells)"
    random_vs_cnn $b
  done
  exit 0
fi
if [ "${1:-}" = ctl ]; then  # the declared addition: pretrained minus random-init full D-Cube head at 10 and 50 labels
  CTL=(runs/le-a3d-random-d31ctl01 runs/le-a3d-random-d31ctl2)
  echo "# cell means at 10 and 50 labels per class: the full D-Cube head on the random-initialised U-Net"
  ctl_table ctl "AdrenalMNIST3D 28^3, full D-Cube head on the random-init U-Net (thirty-first session)" 10 50
  for b in 10 50; do
    echo "# budget $b: the full D-Cube head on the trained DDPMs minus the same head on the random-init U-Net"
    vs_random $b
    for f in $(pre_runs $b); do
      echo "# budget $b: $f minus the random-init head"
      vs_random $b $f
    done
  done
  echo "# the random-init head minus D-Cube's image CNN alone (budget 10: thirtieth session's cells; 50: this session's)"
  random_vs_cnn 10
  random_vs_cnn 50
  exit 0
fi
if [ "${1:-}" = b50 ]; then
  FEAT=(runs/le-a3d-s{0,1}-d31b50); CNN=(runs/le-a3d-baselines-d31b50cnn{0,1,2})
  echo "# cell means at 50 labels per class: the full D-Cube head on two DDPMs, D-Cube's image CNN alone, the small CNN"
  $PY label_efficiency_summary.py --runs "${CNN[@]}" "${FEAT[@]}" --budgets 50 \
    --title "AdrenalMNIST3D 28^3, 50 labels per class (thirty-first session)" \
    --ddpm "2000-step DDPMs a3d27-s{0,1} retrained" --out results/label_efficiency_a3d31_b50.json --png $T/a3d31_b50.png
  echo "## small_cnn against the twenty-ninth session's (Intel family 6 model 167; same code, seeds, subsets)"
  $PY a3d28_check.py --method small_cnn results/label_efficiency_a3d31_b50.json results/label_efficiency_a3d29_b50.json || true
  echo "# budget 50: the full D-Cube head minus the small CNN (PRIMARY of the 50-label part), two DDPMs pooled"
  $PY paired_methods.py --budget 50 --runs "${FEAT[@]}" --ref small_cnn --ref-runs "${CNN[@]}" --methods dcube
  echo "# budget 50: the full D-Cube head minus D-Cube's image CNN alone (the attribution ablation)"
  $PY paired_methods.py --budget 50 --runs "${FEAT[@]}" --ref dcube_cnn --ref-runs "${CNN[@]}" --methods dcube
  echo "# budget 50: D-Cube's image CNN alone minus the small CNN"
  $PY paired_methods.py --budget 50 --runs "${CNN[@]}" --ref small_cnn --methods dcube_cnn   # the reference is in --runs
  for f in "${FEAT[@]}"; do
    echo "# budget 50: $f minus the small CNN, minus D-Cube's image CNN alone"
    $PY paired_methods.py --budget 50 --runs $f --ref small_cnn --ref-runs "${CNN[@]}" --methods dcube
    $PY paired_methods.py --budget 50 --runs $f --ref dcube_cnn --ref-runs "${CNN[@]}" --methods dcube
  done
  exit 0
fi
FEAT=(runs/le-a3d-s{0,1}-d30b25); RN=(runs/le-a3d-baselines-d31rn{0,1,2}); SMALL=(runs/le-a3d-baselines-d31small{0,1,2})
DCNN=(runs/le-a3d-baselines-d30b25cnn{0,1,2})
echo "# cell means at 25 labels per class: the full D-Cube head on two DDPMs, the ResNet-18 3D, the small CNN, D-Cube's image CNN"
$PY label_efficiency_summary.py --runs "${RN[@]}" "${SMALL[@]}" "${DCNN[@]}" "${FEAT[@]}" --budgets 25 \
  --title "AdrenalMNIST3D 28^3, 25 labels per class, same-run CNNs (thirtieth and thirty-first sessions)" \
  --ddpm "2000-step DDPMs a3d27-s{0,1} retrained" --out results/label_efficiency_a3d31_b25.json --png $T/a3d31_b25.png
echo "## resnet18 against the twenty-ninth session's (Intel family 6 model 167; same code, seeds, subsets)"
$PY a3d28_check.py --method resnet18 results/label_efficiency_a3d31_b25.json results/label_efficiency_a3d29_few.json || true
echo "## small_cnn against the twenty-eighth session's"
$PY a3d28_check.py --method small_cnn results/label_efficiency_a3d31_b25.json results/label_efficiency_a3d28_few.json || true
echo "# budget 25: the full D-Cube head minus the ResNet-18 3D (PRIMARY), two DDPMs pooled"
$PY paired_methods.py --budget 25 --runs "${FEAT[@]}" --ref resnet18 --ref-runs "${RN[@]}" --methods dcube
echo "# budget 25: the full D-Cube head minus the small CNN"
$PY paired_methods.py --budget 25 --runs "${FEAT[@]}" --ref small_cnn --ref-runs "${SMALL[@]}" --methods dcube
echo "# budget 25: the CNNs minus the ResNet-18 3D"
$PY paired_methods.py --budget 25 --runs "${SMALL[@]}" "${DCNN[@]}" --ref resnet18 --ref-runs "${RN[@]}" --methods small_cnn dcube_cnn
for f in "${FEAT[@]}"; do
  echo "# budget 25: $f minus the ResNet-18 3D"
  $PY paired_methods.py --budget 25 --runs $f --ref resnet18 --ref-runs "${RN[@]}" --methods dcube
done
