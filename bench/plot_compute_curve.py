"""Plot the pretraining-compute curve written by ``bench/pretrain_compute_curve.py``: test AUC (mean +- sd over head
seeds) of the few-label probe against DDPM optimisation steps, for both readouts (one validation-chosen (block, t)
cell; the concatenated KS-selected keys), with the ~random-initialised U-Net as a reference band.

    python bench/plot_compute_curve.py --curve bench/results/pretrain_compute_pn-s0_to4000.json \
        bench/results/pretrain_compute_pn-s0_to6000.json \
        --control bench/results/pretrain_compute_pn_random.json --png docs/img/pretrain_compute_pn.png
"""

from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# (key in the curve JSON, legend, colour); each point already holds <key>_mean and <key>_sd over its head seeds
READOUTS = (("test_auc", "best (block, t) probe, chosen on validation", "tab:blue"),
            ("ks_test_auc", "KS-selected keys probe", "tab:orange"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--curve", nargs="+", required=True, help="one or more outputs of the same DDPM run")
    ap.add_argument("--control", default=None, help="the same script's output for the ~random-init checkpoint")
    ap.add_argument("--png", required=True)
    ap.add_argument("--title", default="PneumoniaMNIST 28x28, 10 labels per class, DDPM seed 0")
    args = ap.parse_args()

    points = sorted((p for f in args.curve for p in json.load(open(f))["curve"]), key=lambda p: p["step"])
    steps = np.array([p["step"] for p in points])
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for key, name, colour in READOUTS:
        m = np.array([p[f"{key}_mean"] for p in points])
        sd = np.array([p[f"{key}_sd"] for p in points])
        ax.plot(steps, m, "o-", color=colour, label=name)
        ax.fill_between(steps, m - sd, m + sd, color=colour, alpha=0.15)
    if args.control:
        ctl = json.load(open(args.control))["curve"][0]
        for key, name, colour in READOUTS:
            ax.axhline(ctl[f"{key}_mean"], color=colour, ls="--", lw=1, label=f"{name}, random-init U-Net")
    ax.set_xscale("log")
    ax.set_xticks([x for x in (250, 500, 1000, 2000, 4000, 6000, 8000) if steps[0] <= x <= steps[-1]])
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.get_xaxis().set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("DDPM optimisation steps (batch 64)")
    ax.set_ylabel("test AUC (mean +- sd, 3 head seeds)")
    ax.set_title(args.title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(args.png, dpi=120)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
