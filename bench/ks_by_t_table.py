"""Markdown rows of the KS comparison controlled for t from a gaussianity ``selection.json``.

    python bench/ks_by_t_table.py RUN/gaussianity/selection.json

Prints the BENCHMARKS.md table (global comparison, then one row per timestep: selected vs rejected blocks at the
same t, test AUC of a probe on each set), the mean same-t difference and the per-block map over all t.
"""

from __future__ import annotations

import json
import sys


def keys(ks) -> str:
    return ", ".join(f"{b} t={t}" for b, t in ks)


def blocks(ks) -> str:
    return ", ".join(b for b, _ in ks)


def main(path: str) -> None:
    s = json.loads(open(path).read())
    print("| comparison | selected (non-Gaussian) | rejected (most Gaussian) | test AUC selected | test AUC rejected "
          "| difference |")
    print("|---|---|---|---|---|---|")
    a, b = s["selected_probe"]["auc_mean"], s.get("rejected_probe", {}).get("auc_mean")
    diff = f"{a - b:+.3f}" if b is not None else "-"
    print(f"| global | {keys(s['selected'])} | {keys(s['rejected'])} | {a:.3f} | "
          f"{b if b is None else format(b, '.3f')} | {diff} |")
    for r in s["by_t"]:
        if not r["usable"]:
            print(f"| same t = {r['t']} | {blocks(r['selected'])} | {blocks(r['rejected'])} | - | - | not usable |")
            continue
        note = {"selected": " (none non-Gaussian at this t)", "rejected": " (none Gaussian at this t)"}
        fb = note.get(r.get("fallback"), "")
        print(f"| same t = {r['t']}{fb} | {blocks(r['selected'])} | {blocks(r['rejected'])} | "
              f"{r['selected_probe']['auc_mean']:.3f} | {r['rejected_probe']['auc_mean']:.3f} | "
              f"{r['delta']['auc']:+.3f} |")
    print(f"\nmean same-t difference {s['same_t_delta_auc_mean']:+.3f} AUC, positive at {s['same_t_positive']}; "
          f"fallback (no key non-Gaussian) {s.get('fallback', '-')}")
    print("per-block map over all t (median KS p-value, frac of dims rejected, rows):")
    for r in s["block_map"]:
        print(f"  {r['block']}: p {r['pvalue']:.1e}, frac {r['frac_reject']:.2f}, n {r['n']}")


if __name__ == "__main__":
    main(sys.argv[1])
