"""Do two label-efficiency summaries hold the same cells? (twenty-eighth session: AdrenalMNIST3D 5-25 labels re-run on
the retrained 3D DDPMs against the ninth session's committed cells.)

Cells are matched by (method, budget, head seed, DDPM): the DDPM is the run name's third part (``le-a3d-s0-...`` ->
``s0``) for diffusion methods, and ignored for CNNs (no DDPM). Prints how many match, how many are exactly equal in
macro-F1, BACC and AUC, and the largest absolute difference; exits 1 if a cell is missing on either side
(with ``--partial``, only if a cell of the second is missing from the first). ``--method`` keeps one method's cells;
``--show`` prints each matched cell's metrics on both sides. A summary's cells are its ``"cells"`` (or a seed-paired
table's ``"ref_cells"``).

    python bench/a3d28_check.py NEW.json OLD.json
    python bench/a3d28_check.py --method resnet18 --show --partial NEW.json ONE_OLD_CELL.json   # twenty-ninth session
"""

from __future__ import annotations

import argparse
import json
import sys

CNNS = {"small_cnn", "resnet18", "dcube_cnn"}
METRICS = ("f1", "bacc", "auc")


def key(c: dict) -> tuple:
    ddpm = "-" if c["method"] in CNNS else c["run"].split("-")[2]
    return c["method"], str(c["budget"]), int(c["seed"]), ddpm


def compare(new: list[dict], old: list[dict]) -> tuple[int, int, float, list, list]:
    a, b = {key(c): c for c in new}, {key(c): c for c in old}
    both = sorted(set(a) & set(b))
    equal = sum(all(float(a[k][m]) == float(b[k][m]) for m in METRICS) for k in both)
    worst = max((abs(float(a[k][m]) - float(b[k][m])) for k in both for m in METRICS), default=0.0)
    return len(both), equal, worst, sorted(set(a) - set(b)), sorted(set(b) - set(a))


def load(path: str, method: str | None) -> list[dict]:
    d = json.load(open(path))
    cells = d["cells"] if "cells" in d else d["ref_cells"]
    return [c for c in cells if method is None or c["method"] == method]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("first", help="summary JSON (the new cells)")
    ap.add_argument("second", help="summary JSON (the cells to compare with)")
    ap.add_argument("--method", default=None, help="only this method's cells, on both sides")
    ap.add_argument("--show", action="store_true", help="print each matched cell's metrics on both sides")
    ap.add_argument("--partial", action="store_true", help="cells only in the first file do not fail")
    args = ap.parse_args(argv)
    new, old = load(args.first, args.method), load(args.second, args.method)
    n, equal, worst, only_new, only_old = compare(new, old)
    print(f"{n} cells in both; {equal} exactly equal in {', '.join(METRICS)}; largest difference {worst:.3g}")
    if args.show:
        a, b = {key(c): c for c in new}, {key(c): c for c in old}
        for k in sorted(set(a) & set(b)):
            row = "  ".join(f"{m} {float(a[k][m]):.4f} vs {float(b[k][m]):.4f}" for m in METRICS)
            print(f"  {k}: {row}")
    for name, ks in (("only in the first", only_new), ("only in the second", only_old)):
        if ks:
            print(f"{len(ks)} {name}: {ks[:5]}{' ...' if len(ks) > 5 else ''}")
    return 1 if only_old or (only_new and not args.partial) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
