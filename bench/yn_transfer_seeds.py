"""The yes/no transfer at 4x pretraining across DDPM seeds: one table from the per-seed paired files.

Each seed's ``bench/paired_methods.py`` output (``yn_transfer_long_paired.txt`` for seed 1,
``yn_transfer_seed<S>_paired.txt`` for seeds 0 and 2) holds, per budget and method, the paired difference of two DDPM
arms with its 95% bootstrap interval over the test images. This collects one comparison across seeds: each seed's
difference and interval, how many seeds resolve it above / below zero, and the mean over seeds with a t interval
over seeds (df = n - 1; with three seeds it is wide: the DDPM seed is the unit, not the test image).

    python bench/yn_transfer_seeds.py --seed 1=bench/results/yn_transfer_long_paired.txt \
        --seed 0=bench/results/yn_transfer_seed0_paired.txt --seed 2=bench/results/yn_transfer_seed2_paired.txt
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from seed_paired_cells import t_interval  # bench/ is on sys.path when run as a script

COMPARISONS = {  # key -> the header line's text after "# budget B: " (the per-seed scripts' wording)
    "pool-target": "pool arm (1600 + 100 steps) minus target arm (1700 steps)",
    "target1700-target500": "target arm, 1700 minus 500 steps",
}
LINE = re.compile(
    r"^(?P<budget>\S+)\t(?P<method>\S+)\t\d+ vs \d+ cells\tF1 (?P<f1>[-+]\d\.\d+) \[(?P<f1lo>[-+]\d\.\d+), "
    r"(?P<f1hi>[-+]\d\.\d+)\]\tAUC (?P<auc>[-+]\d\.\d+) \[(?P<auclo>[-+]\d\.\d+), (?P<auchi>[-+]\d\.\d+)\]$"
)


def parse(path: Path) -> dict[tuple[str, str, str], dict[str, float]]:
    """{(comparison, budget, method): {f1, f1lo, f1hi, auc, auclo, auchi}} from one seed's paired file."""
    out: dict[tuple[str, str, str], dict[str, float]] = {}
    current = None
    for raw in path.read_text().splitlines():
        if raw.startswith("#"):
            m = re.match(r"^# budget (\S+): (.*)$", raw)
            current = None
            if m:
                for key, text in COMPARISONS.items():
                    if m.group(2).startswith(text):
                        current = key
            continue
        m = LINE.match(raw)
        if m and current is not None:
            vals = {k: float(v) for k, v in m.groupdict().items() if k not in ("budget", "method")}
            out[(current, m.group("budget"), m.group("method"))] = vals
    if not out:
        raise SystemExit(f"{path}: no paired lines under a known comparison header")
    return out


def summarise(rows: list[dict[str, float]], metric: str) -> tuple[float, float | None, float | None, int, int]:
    """Mean over seeds, its t interval (None with one seed), and how many seeds resolve the difference above / below
    zero."""
    mean, lo, hi = t_interval([r[metric] for r in rows])
    up = sum(r[metric + "lo"] > 0 for r in rows)
    down = sum(r[metric + "hi"] < 0 for r in rows)
    return mean, lo, hi, up, down


def mean_cell(mean: float, lo: float | None, hi: float | None) -> str:
    """``+0.012 [-0.034, +0.058]``; with one seed there is no interval over seeds, and it says so."""
    return f"{mean:+.3f} [no interval: one seed]" if lo is None or hi is None else f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", action="append", required=True, help="SEED=PATH of one seed's paired file")
    ap.add_argument("--comparisons", nargs="+", default=list(COMPARISONS), choices=list(COMPARISONS))
    ap.add_argument("--budgets", nargs="+", default=["5", "10", "25", "50", "all"])
    ap.add_argument("--methods", nargs="+", default=["linear_best", "linear_ks", "cats", "dcube_feats"])
    args = ap.parse_args()
    seeds: dict[str, dict] = {}
    for spec in args.seed:
        name, sep, path = spec.partition("=")
        if not sep:
            raise SystemExit(f"--seed {spec!r}: expected SEED=PATH")
        if name in seeds:
            raise SystemExit(f"--seed {name} given twice")
        seeds[name] = parse(Path(path))
    names = list(seeds)
    for comp in args.comparisons:
        print(f"\n{comp} (per seed: difference [95% bootstrap CI over test images]; mean over seeds [95% t CI over "
              f"seeds]; seeds resolved +/-)")
        head = ["budget", "method", "metric"] + [f"seed {s}" for s in names] + ["mean over seeds", "resolved +/-"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for b in args.budgets:
            for meth in args.methods:
                rows = [seeds[s].get((comp, b, meth)) for s in names]
                if any(r is None for r in rows):
                    missing = [s for s, r in zip(names, rows) if r is None]
                    print(f"| {b} | {meth} | - | " + " | ".join("-" if s in missing else "" for s in names)
                          + f" | missing for seed(s) {', '.join(missing)} | - |")
                    continue
                for metric, label in (("f1", "macro-F1"), ("auc", "AUC")):
                    cells = [f"{r[metric]:+.3f} [{r[metric + 'lo']:+.3f}, {r[metric + 'hi']:+.3f}]" for r in rows]
                    mean, lo, hi, up, down = summarise(rows, metric)
                    print(f"| {b} | {meth} | {label} | " + " | ".join(cells)
                          + f" | {mean_cell(mean, lo, hi)} | {up}/{down} |")


if __name__ == "__main__":
    main()
