"""Print, for every RUN, whether its label-budget subsets (``budgets/subsets.json``: the validation rule, the test
ids, and every head seed's training and validation ids per budget) equal those of REF: ``<RUN> identical`` or
``<RUN> DIFFERENT``. A run with fewer head seeds or budgets than REF (e.g. one ResNet-18 3D run per seed, or a CNN
run at one budget) is compared on the (seed, budget) cells it has; a cell REF lacks is DIFFERENT (nothing to compare
it with) unless ``--shared`` (then only the cells both have are compared: e.g. a run with more head seeds than REF,
as in the forty-third session's random-init U-Net of head seeds 12-35); a run without the file is skipped.
``--list-seeds`` first prints REF's head seeds. The summaries' pre-check before any paired comparison
(``label_efficiency_summary.check_subsets`` stops instead of printing).

    cd bench && PYTHONPATH=.. python -P same_subsets.py runs/le-pn-baselines-d34 runs/le-pn-s5-d36 runs/le-pn-s6-d36
"""

import json
import sys
from pathlib import Path


def same_subsets(ref: dict, sub: dict, shared: bool = False) -> bool:
    return (sub.get("rule") == ref.get("rule") and sub["test_ids"] == ref["test_ids"]
            and all(ref["seeds"].get(s, {}).get(b) == ids
                    for s, per_b in sub["seeds"].items() for b, ids in per_b.items()
                    if not shared or b in ref["seeds"].get(s, {})))


def main(argv: list[str]) -> None:
    listing = "--list-seeds" in argv
    shared = "--shared" in argv
    argv = [a for a in argv if a not in ("--list-seeds", "--shared")]
    if len(argv) < 2:
        raise SystemExit("usage: same_subsets.py [--list-seeds] [--shared] REF RUN [RUN ...]")
    ref = json.loads((Path(argv[0]) / "budgets" / "subsets.json").read_text())
    if listing:
        print("head seeds:", sorted(ref["seeds"], key=int))
    for run in argv[1:]:
        f = Path(run) / "budgets" / "subsets.json"
        if f.exists():
            print(run, "identical" if same_subsets(ref, json.loads(f.read_text()), shared) else "DIFFERENT")


if __name__ == "__main__":
    main(sys.argv[1:])
