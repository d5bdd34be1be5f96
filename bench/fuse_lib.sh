# Sourced by bench/fuse4*_summary.sh (run from bench/, PY set): the late-fusion helpers.
# have RUN...: the run directories that exist (have a budgets/ folder)
have() { for r in "$@"; do [ -d "$r/budgets" ] && echo "$r"; done; return 0; }
# fuse OUT A_RUN A_METHOD NAME B_METHOD "B RUNS" [C_METHOD "C RUNS"]: one pseudo run of fused cells
# (bench/fuse_cells.py; quiet unless a cell is skipped)
fuse() {
  local out=$1 a=$2 am=$3 name=$4 bm=$5; local -a br cr c=()
  read -ra br <<< "$6"
  if [ $# -ge 8 ]; then read -ra cr <<< "$8"; c=(--c-method "$7" --c-runs "${cr[@]}"); fi
  rm -rf "$out"
  $PY fuse_cells.py --a-run "$a" --a-method "$am" --b-runs "${br[@]}" --b-method "$bm" "${c[@]}" --name "$name" \
    --out "$out" | grep -v " fused cells " || true
}
# qfuse ARGS...: fuse, without naming the cells that are not in every component (a component's cells of another draw
# set, or head seeds a ResNet-18 run splits off); the paired tables count the cells they compare
qfuse() { fuse "$@" 2>&1 | grep -v "not in every component" || true; }
# pm ARGS...: bench/paired_methods.py
pm() { $PY paired_methods.py "$@"; }
