"""Few-label test metrics against DDPM pretraining length, from label-efficiency summaries of one dataset.

Each ``--summary STEPS=PATH`` is a ``label_efficiency_summary.py`` JSON of the same subsets and harness on DDPMs
pretrained STEPS steps. Draws, per budget, the diffusion-feature methods' mean +- sd over cells against STEPS, and
the image-only CNNs (which read no DDPM) as horizontal lines; prints the table it draws.

    python bench/plot_ddpm_length.py --summary 500=bench/results/label_efficiency_b64_fp32.json \
        2000=bench/results/label_efficiency_b64_d2000.json --budgets 5 10 25 --png docs/img/ddpm_length_brain64.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from label_efficiency_summary import CNNS, DIFFUSION  # noqa: E402

from medfx.workflows.label_budgets import LABELS  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--summary", nargs="+", required=True, help="STEPS=path/to/summary.json")
    ap.add_argument("--budgets", nargs="+", default=["5", "10", "25"])
    ap.add_argument("--metrics", nargs="+", default=["f1", "auc"])
    ap.add_argument("--title", default="")
    ap.add_argument("--png", required=True)
    args = ap.parse_args()
    rows = {}  # (steps, method, budget) -> table row
    for item in args.summary:
        steps, _, path = item.partition("=")
        for r in json.loads(Path(path).read_text())["table"]:
            rows[(int(steps), r["method"], str(r["budget"]))] = r
    steps = sorted({s for s, _, _ in rows})
    names = {"f1": "macro-F1", "auc": "AUC", "bacc": "balanced accuracy"}
    fig, axes = plt.subplots(len(args.metrics), len(args.budgets), figsize=(4.2 * len(args.budgets),
                                                                          3.3 * len(args.metrics)), squeeze=False)
    print("| method | labels / class | " + " | ".join(f"{names[m]} @ {s}" for m in args.metrics for s in steps) + " |")
    for j, b in enumerate(args.budgets):
        for i, m in enumerate(args.metrics):
            ax = axes[i][j]
            for k, meth in enumerate(DIFFUSION):
                pts = [(s, rows[(s, meth, b)]) for s in steps if (s, meth, b) in rows]
                if len(pts) < 2:
                    continue
                xs = [s for s, _ in pts]
                mu = [r[f"{m}_mean"] for _, r in pts]
                sd = [r[f"{m}_sd"] for _, r in pts]
                ax.errorbar(xs, mu, yerr=sd, marker="o", capsize=3, color=f"C{k}", label=LABELS.get(meth, meth))
            for k, meth in enumerate(CNNS):
                r = next((rows[(s, meth, b)] for s in steps if (s, meth, b) in rows), None)
                if r is not None:
                    ax.axhline(r[f"{m}_mean"], ls="--", color=f"C{k + 5}", label=LABELS.get(meth, meth) + " (no DDPM)")
            ax.set_xscale("log")
            ax.minorticks_off()
            ax.set_xticks(steps, [str(s) for s in steps])
            ax.set_xlabel("DDPM pretraining steps")
            ax.set_ylabel(names[m])
            ax.set_title(f"{b} labels per class")
            ax.grid(alpha=0.3)
    for b in args.budgets:
        for meth in (*DIFFUSION, *CNNS):
            vals = [rows.get((s, meth, b)) for s in steps]
            if any(vals):
                cells = [f"{v[f'{m}_mean']:.3f}" if v else "-" for m in args.metrics for v in vals]
                tag = " (no DDPM: the same cells at every length)" if meth in CNNS else ""
                print(f"| {LABELS.get(meth, meth)}{tag} | {b} | " + " | ".join(cells) + " |")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=4)
    fig.suptitle(args.title or "few-label test metrics against DDPM pretraining length (mean +- sd over cells)")
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    Path(args.png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.png, dpi=110)


if __name__ == "__main__":
    main()
