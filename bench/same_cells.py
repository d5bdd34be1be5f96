"""Are two runs' cells the same? The largest |difference| of the class probabilities between method A's cells of
run A and method B's cells of run B, over every (budget, head seed) both have, validation and test rows (which must
be the same rows in the same order). Used to check that the package's own ``fused`` reproduces the bench's fused
pseudo runs (forty-first and forty-second sessions).

    python bench/same_cells.py bench/runs/le-pn-s7-d42pkg fused bench/runs/fuse42-pn24-1 f3
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from medfx.report.tables import read_predictions


def max_difference(run_a: Path, method_a: str, run_b: Path, method_b: str) -> tuple[int, float]:
    """(cells compared, max |difference| of the probabilities); SystemExit when no cell is shared or rows differ."""
    n, worst = 0, 0.0
    for fa in sorted(run_a.glob(f"budgets/b*/seed*/{method_a}/predictions.csv")):
        fb = run_b / "budgets" / fa.parts[-4] / fa.parts[-3] / method_b / "predictions.csv"
        if not fb.exists():
            continue
        for split in ("val", "test"):
            a, b = read_predictions(fa, split), read_predictions(fb, split)
            if list(a["ids"]) != list(b["ids"]):
                raise SystemExit(f"{fa} and {fb}: other {split} rows")
            worst = max(worst, float(np.abs(np.asarray(a["proba"]) - np.asarray(b["proba"])).max(initial=0.0)))
        n += 1
    if n == 0:
        raise SystemExit(f"no (budget, seed) has both {method_a} in {run_a} and {method_b} in {run_b}")
    return n, worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_a", type=Path)
    ap.add_argument("method_a")
    ap.add_argument("run_b", type=Path)
    ap.add_argument("method_b")
    args = ap.parse_args()
    n, worst = max_difference(args.run_a, args.method_a, args.run_b, args.method_b)
    print(f"{args.method_a} of {args.run_a.name} vs {args.method_b} of {args.run_b.name}: {n} cells, "
          f"max |difference| of the probabilities {worst:.3g}")


if __name__ == "__main__":
    main()
