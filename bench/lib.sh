# Sourced by the bench scripts that retrain heads on another run's cached stages.
# link_cached_run SRC DST: DST starts from hard links to SRC's feature banks, probe grid and Gaussianity map, and
# their stage markers, so `medfx train-head` reuses them (they are only reused when their settings still match).
link_cached_run() {
  local src=$1 dst=$2 d s
  mkdir -p "$dst/stages"
  # the run directory's ownership marker, so that medfx accepts the prepared folder as its own
  [ -e "$dst/.medfx-owned" ] || cp "$src/.medfx-owned" "$dst/"
  for d in features features_grid probe gaussianity; do [ -e "$dst/$d" ] || cp -al "$src/$d" "$dst/$d"; done
  for s in extract probe gaussianity; do cp -n "$src/stages/$s.json" "$dst/stages/"; done
}
