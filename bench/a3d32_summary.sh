#!/bin/bash
# AdrenalMNIST3D 28^3, thirty-second session (BENCHMARKS "Issue 13: thirty-second session"; runs of bench/a3d32.sh):
# every feature head on the two trained 3D DDPMs against the same head on two random-initialised U-Nets, 5-50 labels.
#   bash bench/a3d32_summary.sh > bench/results/a3d32_paired.txt    table results/label_efficiency_a3d32.json
#   bash bench/a3d32_summary.sh s345 > bench/results/a3d32_s345_paired.txt   declared addition: 5 and 10 labels with
#        head seeds 0-5 (3-5: le-a3d-s{0,1}-d32s345, le-a3d-random-d32r{0,1}s345); table label_efficiency_a3d32_s345.json
#   bash bench/a3d32_summary.sh b25 > bench/results/a3d32_s345b25_paired.txt   second declared addition: the same at 25
#        labels (3-5: le-a3d-s{0,1}-d32s345b25, le-a3d-random-d32r{0,1}s345b25); table label_efficiency_a3d32_s345b25.json
# Trained DDPMs (a3d27-s{0,1}, 2000 steps): le-a3d-s{0,1}-d30few (every head, 5 and 10), -d30b25 / -d31b50 (the full
# D-Cube head at 25 / 50), -d32cheap (the four cheaper heads at 25 and 50). Random U-Net init 0 (run.seed 0, the
# thirty-first session's): le-a3d-random-d31ctl* (the full head), -d32r0cheap (the cheaper heads); init 1 (run.seed 1):
# le-a3d-random-d32r1{a,b} (every head). Each run holds each (budget, method, head seed) cell at most once.
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=1 PYTHONPATH=${MEDFX_SRC:-$PWD/..}:$PWD
PY=${PY:-python -P}
T=${TMPDIR:-/tmp}
PRE=(runs/le-a3d-s{0,1}-d30few runs/le-a3d-s{0,1}-d30b25 runs/le-a3d-s{0,1}-d31b50 runs/le-a3d-s{0,1}-d32cheap)
R0=(runs/le-a3d-random-d31ctl01 runs/le-a3d-random-d31ctl2 runs/le-a3d-random-d31ctl5_01 runs/le-a3d-random-d31ctl5_2
    runs/le-a3d-random-d32r0cheap)
R1=(runs/le-a3d-random-d32r1a runs/le-a3d-random-d32r1b)
HEADS=(linear_best linear_ks cats dcube_feats dcube)
table() {  # table NAME TITLE BUDGETS...: cell means on the trained DDPMs and the random U-Nets
  # (results/label_efficiency_NAME.json)
  local name=$1 title=$2; shift 2
  $PY label_efficiency_summary.py --runs "${PRE[@]}" --control "${R0[@]}" "${R1[@]}" --budgets "$@" --title "$title" \
    --ddpm "2000-step DDPMs a3d27-s{0,1} retrained; control: two random-init U-Nets" \
    --out results/label_efficiency_$name.json --png $T/$name.png
}
vs() {  # vs BUDGET "RUNS" "AGAINST" [ARGS...]: every head in RUNS minus the same head in AGAINST (run directories,
  # space-separated)
  local b=$1 runs=$2 against=$3; shift 3
  $PY paired_methods.py --budget $b --runs $runs --against-runs $against --methods "${HEADS[@]}" "$@"
}
if [ "${1:-}" = s345 ] || [ "${1:-}" = b25 ]; then  # the declared additions: head seeds 3-5 at 5 and 10 (s345) or
  # 25 labels (b25), pooled with seeds 0-2
  if [ "$1" = s345 ]; then X=s345; BS=(5 10); else X=s345b25; BS=(25); fi
  PRE+=(runs/le-a3d-s{0,1}-d32$X); R0+=(runs/le-a3d-random-d32r0$X); R1+=(runs/le-a3d-random-d32r1$X)
  table a3d32_$X "AdrenalMNIST3D 28^3, trained DDPMs vs random-init U-Nets, head seeds 0-5 (thirty-second session)" \
    "${BS[@]}"
  for b in "${BS[@]}"; do
    echo "# budget $b: trained DDPMs minus random-init U-Nets (both inits), same head, head seeds 0-5"
    vs $b "${PRE[*]}" "${R0[*]} ${R1[*]}"
    echo "# budget $b: the same, head seeds 3-5 only"
    vs $b "${PRE[*]}" "${R0[*]} ${R1[*]}" --seeds 3 4 5
    echo "# budget $b: random-init U-Net init 1 minus init 0, head seeds 0-5"
    vs $b "${R1[*]}" "${R0[*]}"
  done
  exit 0
fi
echo "# the init-1 baselines run's small CNN (head seed 0, 5 labels) against the thirtieth session's cell (run.seed must not matter)"
for m in f1 auc bacc; do
  a=$(grep "^5,small_cnn,0,$m," runs/le-a3d-baselines-d32init1/results.csv); b=$(grep "^5,small_cnn,0,$m," runs/le-a3d-baselines-d30cnn0/results.csv)
  [ "$a" = "$b" ] && echo "identical: $a" || echo "DIFFERENT: $a vs $b"
done
echo "# cell means: every head on the trained DDPMs, and on the random-init U-Nets (both inits pooled)"
table a3d32 "AdrenalMNIST3D 28^3, trained DDPMs vs random-init U-Nets (thirty-second session)" 5 10 25 50
echo "## the trained DDPMs' cheaper heads at 25 and 50 (-d32cheap) against the twenty-eighth / twenty-ninth sessions' cells"
echo "## (Intel family 6 model 167; same code, DDPMs, seeds and subsets; the old tables also hold a third DDPM, s2)"
for m in linear_best linear_ks cats dcube_feats; do
  $PY a3d28_check.py --method $m results/label_efficiency_a3d32.json results/label_efficiency_a3d28_few.json || true
  $PY a3d28_check.py --method $m results/label_efficiency_a3d32.json results/label_efficiency_a3d29_b50.json || true
done
for b in 5 10 25 50; do
  echo "# budget $b: PRIMARY: trained DDPMs minus random-init U-Nets (both inits), same head"
  vs $b "${PRE[*]}" "${R0[*]} ${R1[*]}"
  echo "# budget $b: trained DDPMs minus random-init U-Net init 0"
  vs $b "${PRE[*]}" "${R0[*]}"
  echo "# budget $b: trained DDPMs minus random-init U-Net init 1"
  vs $b "${PRE[*]}" "${R1[*]}"
  echo "# budget $b: random-init U-Net init 1 minus init 0 (the random initialisation's own variance)"
  vs $b "${R1[*]}" "${R0[*]}"
done
echo "# secondary: the heads on the trained DDPMs minus the ResNet-18 3D and the small CNN trained beside them"
for b in 5 10; do
  $PY paired_methods.py --budget $b --runs runs/le-a3d-s{0,1}-d30few --ref resnet18 --ref-runs runs/le-a3d-baselines-d30rn{0,1,2} --methods "${HEADS[@]}"
  $PY paired_methods.py --budget $b --runs runs/le-a3d-s{0,1}-d30few --ref small_cnn --ref-runs runs/le-a3d-baselines-d30cnn{0,1,2} --methods "${HEADS[@]}"
done
$PY paired_methods.py --budget 25 --runs "${PRE[@]}" --ref resnet18 --ref-runs runs/le-a3d-baselines-d31rn{0,1,2} --methods "${HEADS[@]}"
$PY paired_methods.py --budget 25 --runs "${PRE[@]}" --ref small_cnn --ref-runs runs/le-a3d-baselines-d31small{0,1,2} --methods "${HEADS[@]}"
$PY paired_methods.py --budget 50 --runs "${PRE[@]}" --ref small_cnn --ref-runs runs/le-a3d-baselines-d31b50cnn{0,1,2} --methods "${HEADS[@]}"
