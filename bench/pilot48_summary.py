"""The forty-eighth session's pilot rule applied to the outputs of ``bench/pilot48_distill.py`` and
``bench/pilot48_poolscale.py`` (BENCHMARKS "Issue 13: forty-eighth session"): per dataset, every method's mean
score-half AUC and macro-F1 over its cells, the difference from ``fused``, and whether each variant under test passes
(AUC >= fused + 0.01 and macro-F1 >= fused - 0.01 on every dataset). ``rule=a,b`` names the variants under test
(default: every method that is not a reference); the others are printed without a verdict.

    python bench/pilot48_summary.py pn=bench/results/pilot48_pn_s9.tsv,bench/results/pilot48_pn_s10.tsv \\
        brain=bench/results/pilot48_b64_s9.tsv,bench/results/pilot48_b64_s10.tsv
    python bench/pilot48_summary.py rule=fused_pool pn=bench/results/pilot48b_pn_s9.tsv,... brain=...
"""

import csv
import sys
from collections import defaultdict

AUC_GAIN, F1_LOSS = 0.01, 0.01
EPS = 1e-9
REFERENCES = ("topk", "small_cnn", "fused", "topk_c")


def means(files: list[str]) -> tuple[dict[str, tuple[float, float]], int]:
    """``{method: (mean AUC, mean macro-F1)}`` over every cell of ``files`` and the number of cells per method."""
    cells = defaultdict(list)
    for f in files:
        with open(f) as fh:
            for r in csv.DictReader(fh, delimiter="\t"):
                cells[r["method"]].append((float(r["score AUC"]), float(r["score macro-F1"])))
    n = {len(v) for v in cells.values()}
    if len(n) != 1:
        raise SystemExit(f"{files}: the methods have different numbers of cells ({sorted(n)})")
    return {m: (sum(a for a, _ in v) / len(v), sum(b for _, b in v) / len(v)) for m, v in cells.items()}, n.pop()


def main(args: list[str]) -> None:
    datasets = {a.split("=", 1)[0]: a.split("=", 1)[1].split(",") for a in args}
    tested = datasets.pop("rule", None)
    passes: dict[str, bool] = {}
    for name, files in datasets.items():
        mean, n = means(files)
        fa, ff = mean["fused"]
        print(f"{name} ({n} cells a method; {', '.join(files)})")
        print("  method      score AUC (minus fused)   score macro-F1 (minus fused)   rule")
        for m, (a, f) in mean.items():
            ok = a - fa >= AUC_GAIN - EPS and f - ff >= -F1_LOSS - EPS  # the rule is >= on 4-decimal values
            under_test = m in tested if tested else m not in REFERENCES
            if under_test:
                passes[m] = passes.get(m, True) and ok
            rule = ("pass" if ok else "fail") if under_test else ""
            print(f"  {m:10s}  {a:.4f} ({a - fa:+.4f})          {f:.4f} ({f - ff:+.4f})               {rule}")
    print("variants passing on every dataset:", ", ".join(m for m, ok in passes.items() if ok) or "none")


if __name__ == "__main__":
    main(sys.argv[1:])
