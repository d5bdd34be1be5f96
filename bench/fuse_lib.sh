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
# pair_fusions T A B RAND SC RN...: the late fusions of one DDPM pair on one draw set, as pseudo runs: $T-1-topk and
# $T-2-topk (fuse_topk_sc: DDPM A's / B's linear_topk + the small CNN SC), $T-random (the same on the random-init run
# RAND), $T-ens (fuse_ens: both DDPMs' linear_topk + SC) and one CNN pair $T-rnsc<i> (fuse_rn_sc: ResNet-18 run i +
# SC) per ResNet-18 run; sets the array FRN to the CNN-pair runs
pair_fusions() {
  local t=$1 a=$2 b=$3 rand=$4 sc=$5 i; shift 5
  local -a rn=("$@")
  qfuse "$t-1-topk" "$a" linear_topk fuse_topk_sc small_cnn "$sc"
  qfuse "$t-2-topk" "$b" linear_topk fuse_topk_sc small_cnn "$sc"
  qfuse "$t-random" "$rand" linear_topk fuse_topk_sc small_cnn "$sc"
  qfuse "$t-ens" "$a" linear_topk fuse_ens linear_topk "$b" small_cnn "$sc"
  FRN=()
  for i in "${!rn[@]}"; do qfuse "$t-rnsc$i" "${rn[$i]}" resnet18 fuse_rn_sc small_cnn "$sc"; FRN+=("$t-rnsc$i"); done
}
# mfuse OUT NAME "SEEDS" METHOD@RUN...: `medfx fuse` (any number of components, equal weights; it replaces its own
# earlier output at OUT) restricted to those head seeds, quiet; needs MEDFX (e.g. "$PY -m medfx")
mfuse() { local out=$1 name=$2 seeds=$3; shift 3; $MEDFX fuse --out "$out" --name "$name" "$@" --seeds $seeds > /dev/null 2>&1; }
# mpair_fusions T "SEEDS" A B RAND CN [RAND2]: pair_fusions with `medfx fuse` (mfuse), one CNN run CN holding both the
# small CNN and the ResNet-18: $T-1-topk, $T-2-topk, $T-random (fuse_topk_sc), $T-rnsc (fuse_rn_sc), $T-ens
# (fuse_ens). With a second random-init run RAND2, $T-random is fuse_ens of RAND and RAND2 instead (the control of
# fuse_ens: two random-init U-Nets' linear_topk + the small CNN)
mpair_fusions() {
  local t=$1 s=$2 a=$3 b=$4 rand=$5 cn=$6 rand2=${7:-}
  mfuse "$t-1-topk" fuse_topk_sc "$s" linear_topk@"$a" small_cnn@"$cn"
  mfuse "$t-2-topk" fuse_topk_sc "$s" linear_topk@"$b" small_cnn@"$cn"
  if [ -n "$rand2" ]; then
    mfuse "$t-random" fuse_ens "$s" linear_topk@"$rand" linear_topk@"$rand2" small_cnn@"$cn"
  else
    mfuse "$t-random" fuse_topk_sc "$s" linear_topk@"$rand" small_cnn@"$cn"
  fi
  mfuse "$t-rnsc" fuse_rn_sc "$s" resnet18@"$cn" small_cnn@"$cn"
  mfuse "$t-ens" fuse_ens "$s" linear_topk@"$a" linear_topk@"$b" small_cnn@"$cn"
}
