# Sourced by the bench scripts that retrain heads on another run's cached stages.
# link_cached_run SRC DST: DST starts from hard links to SRC's feature banks, probe grid and Gaussianity map, and
# their stage markers, so `medfx train-head` reuses them (they are only reused when their settings still match).
link_cached_run() {
  local src=$1 dst=$2 d s
  mkdir -p "$dst/stages"
  # the run directory's ownership marker, so that medfx accepts the prepared folder as its own
  [ -e "$dst/.medfx-owned" ] || cp "$src/.medfx-owned" "$dst/"
  # a folder SRC lacks is left out: e.g. features_grid, which only a run with the CATS-like or D-Cube head wrote
  # (the thirty-fifth session's CATS runs linked from probe-only runs; medfx extracts the grid maps itself)
  for d in features features_grid probe gaussianity; do
    [ -e "$dst/$d" ] || [ ! -e "$src/$d" ] || cp -al "$src/$d" "$dst/$d"
  done
  for s in extract probe gaussianity; do [ ! -e "$src/stages/$s.json" ] || cp -n "$src/stages/$s.json" "$dst/stages/"; done
}

# Lane helpers of the CPU benchmark scripts that run against a deadline (b64_replication_cpu.sh, b64_all_*_cpu*.sh).
# run_left LOG CMD...: run CMD unless STOP (epoch seconds) has passed; kill it at STOP; output appended to LOG
run_left() {
  local log=$1; shift
  local left=$(( STOP - $(date +%s) ))
  if [ "$left" -le 0 ]; then echo "skipped (past STOP): $*" >> "$log"; return 0; fi
  timeout "$left" "$@" >> "$log" 2>&1 || echo "exit $? (timeout = 124): $*" >> "$log"
}
# wait_file PATH: until PATH exists or STOP has passed
wait_file() {
  while [ ! -e "$1" ] && [ "$(date +%s)" -lt "$STOP" ]; do sleep 20; done
}
# wait_for RUN: until bench/runs/RUN has finished (done.json) or STOP has passed (run from the repository root)
wait_for() { wait_file "bench/runs/$1/done.json"; }
# le_step LOG WHAT KIND [VAR=VALUE...]: bench/label_efficiency.sh KIND with those variables in its environment, under
# run_left, between "start WHAT: <time>" and "end WHAT: <time>" lines in LOG (its folder made if missing). The
# variables go through `env` inside run_left: `VAR=... run_left` works too, but `env VAR=... run_left` cannot run the
# shell function and silently skips the step (twenty-ninth session), so the lane scripts all use this.
le_step() {
  local log=$1 what=$2 kind=$3; shift 3
  mkdir -p "$(dirname "$log")"
  echo "start $what: $(date -u +%H:%M:%S)" >> "$log"
  run_left "$log" env "$@" bash bench/label_efficiency.sh "$kind"
  echo "end $what: $(date -u +%H:%M:%S)" >> "$log"
}
# le_cnn LOG HEAD_SEED METHODS SUFFIX BUDGETS: CNN baselines under the fp32 harness, one head seed, as one le_step
# (bench/a3d30.sh, bench/a3d31.sh)
le_cnn() {
  le_step "$1" "$3 seed $2 at $5" baselines BUDGETS=$5 EXTRA="heads.precision=fp32 heads.seeds=[$2]" SUFFIX=$4 METHODS="$3"
}
# a3d27_ckpt SEED: the last checkpoint of bench/a3d27_ddpm.sh's 3D DDPM of that seed (under DDPM_RUNS)
a3d27_ckpt() { echo "${DDPM_RUNS:-/work/ddpm_runs}/a3d27-s$1/ckpt-0002000.pt"; }
# wait_ckpt PATH [SECONDS]: until a DDPM's checkpoint PATH exists (waited for until STOP; the checkpoint is written
# atomically), then SECONDS more (30) so that the trainer finishes its last log lines; no wait if it already exists
wait_ckpt() {
  if [ ! -e "$1" ]; then
    wait_file "$1"
    sleep "${2:-30}"
  fi
}
# a3d27_wait_ckpt SEED: the same path, once it exists (wait_ckpt)
a3d27_wait_ckpt() {
  local ck; ck=$(a3d27_ckpt "$1")
  wait_ckpt "$ck"
  echo "$ck"
}

# yn_arm_pairs WHO POOL_RUNS TGT_RUNS T500_RUNS: per budget, the yes/no transfer's three paired comparisons
# (bench/paired_methods.py with $PY) of the given run directories (space-separated; several are pooled per test
# image): pool minus target arm, target arm 1700 minus 500 steps, pool minus the short target arm. WHO ends the first
# header (e.g. "DDPM seed 2"). bench/yn_transfer_seeds.py reads these headers: change their wording with it.
yn_arm_pairs() {
  local who=$1 pool=$2 tgt=$3 t500=$4 b
  for b in 5 10 25 50 all; do
    echo "# budget $b: pool arm (1600 + 100 steps) minus target arm (1700 steps), $who"
    $PY bench/paired_methods.py --budget $b --runs $pool --against-runs $tgt
    echo "# budget $b: target arm, 1700 minus 500 steps (the step-500 checkpoint of the same run)"
    $PY bench/paired_methods.py --budget $b --runs $tgt --against-runs $t500
    echo "# budget $b: pool arm (1600 + 100) minus the short target arm (500)"
    $PY bench/paired_methods.py --budget $b --runs $pool --against-runs $t500
  done
}
