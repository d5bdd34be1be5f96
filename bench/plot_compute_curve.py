"""Plot the pretraining-compute curve written by ``bench/pretrain_compute_curve.py``: test AUC (mean +- sd over head
seeds) of the few-label probe against DDPM optimisation steps, for both readouts (one validation-chosen (block, t)
cell; the concatenated KS-selected keys), with the ~random-initialised U-Net as a reference band.

    python bench/plot_compute_curve.py --curve bench/results/pretrain_compute_pn-s0_to4000.json \
        bench/results/pretrain_compute_pn-s0_to6000.json \
        --curve-b bench/results/pretrain_compute_pn-s1_to4000.json \
        --control bench/results/pretrain_compute_pn_random.json --png docs/img/pretrain_compute_pn.png --table

``--curve-b``: the same script's output for a second, independently trained DDPM (drawn dashed); ``--table``
prints a markdown table per step: each DDPM's mean +- sd over its head seeds and, where both have the step, the
mean +- sd over all cells (DDPM seeds x head seeds; the head seeds draw the same labelled subsets for both DDPMs).
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


def load_points(files) -> list[dict]:
    return sorted((p for f in files for p in json.load(open(f))["curve"]), key=lambda p: p["step"])


def cells(point: dict | None, key: str) -> list[float]:
    """The per-head-seed values of ``key`` (``test_auc`` ...) at one checkpoint (none where the run lacks it)."""
    return [s[key] for s in point["seeds"] if key in s] if point else []


def fmt(v: list[float]) -> str:
    return f"{np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}" if len(v) > 1 else (f"{v[0]:.3f}" if v else "-")


def table(a: list[dict], b: list[dict], names: tuple[str, str] = ("DDPM 0", "DDPM 1")) -> str:
    """Markdown: per step, each DDPM's readouts and the pooled cells where both DDPMs have the step."""
    by_a, by_b = {p["step"]: p for p in a}, {p["step"]: p for p in b}
    na, nb = names
    lines = [f"| DDPM steps | KS-keys AUC, {na} | KS-keys AUC, {nb} | KS-keys AUC, both | best-cell AUC, {na} "
             f"| best-cell AUC, {nb} | best-cell AUC, both | KS-keys macro-F1, both |", "|" + "---|" * 8]
    for st in sorted(set(by_a) | set(by_b)):
        pa, pb = by_a.get(st), by_b.get(st)
        row = [str(st)]
        for key in ("ks_test_auc", "test_auc"):
            va, vb = cells(pa, key), cells(pb, key)
            row += [fmt(va), fmt(vb), fmt(va + vb) if va and vb else "-"]
        va, vb = cells(pa, "ks_test_f1"), cells(pb, "ks_test_f1")
        row.append(fmt(va + vb) if va and vb else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--curve", nargs="+", required=True, help="one or more outputs of the same DDPM run")
    ap.add_argument("--curve-b", nargs="+", default=[], help="outputs of a second DDPM run (another seed)")
    ap.add_argument("--table", action="store_true", help="print a markdown table of both DDPMs and their pool")
    ap.add_argument("--control", default=None, help="the same script's output for the ~random-init checkpoint")
    ap.add_argument("--png", required=True)
    ap.add_argument("--title", default="PneumoniaMNIST 28x28, 10 labels per class, DDPM seed 0")
    ap.add_argument("--names", nargs=2, default=["DDPM seed 0", "DDPM seed 1"], metavar=("A", "B"),
                    help="what --curve and --curve-b are (legend and table), e.g. 'pool arm' 'target arm'")
    ap.add_argument("--batch", type=int, default=64, help="the DDPM's batch size (x-axis label)")
    args = ap.parse_args()

    points = load_points(args.curve)
    points_b = load_points(args.curve_b) if args.curve_b else []
    steps = np.array(sorted({p["step"] for p in points + points_b}))
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    tags = (f" ({args.names[0]})" if points_b else "", f" ({args.names[1]})")
    for pts, style, tag in ((points, "o-", tags[0]), (points_b, "s--", tags[1])):
        if not pts:
            continue
        for key, name, colour in READOUTS:
            have = [p for p in pts if f"{key}_mean" in p]  # older outputs lack the KS readout
            if not have:
                continue
            st = np.array([p["step"] for p in have])
            m = np.array([p[f"{key}_mean"] for p in have])
            sd = np.array([p[f"{key}_sd"] for p in have])
            ax.plot(st, m, style, color=colour, label=name + tag, ms=4)
            ax.fill_between(st, m - sd, m + sd, color=colour, alpha=0.10)
    if args.control:
        ctl = json.load(open(args.control))["curve"][0]
        for key, name, colour in READOUTS:
            ax.axhline(ctl[f"{key}_mean"], color=colour, ls="--", lw=1, label=f"{name}, random-init U-Net")
    ax.set_xscale("log")
    ax.set_xticks([x for x in (250, 500, 1000, 2000, 4000, 6000, 8000) if steps[0] <= x <= steps[-1]])
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.get_xaxis().set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel(f"DDPM optimisation steps (batch {args.batch})")
    ax.set_ylabel("test AUC (mean +- sd, 3 head seeds)")
    ax.set_title(args.title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(args.png, dpi=120)
    print(f"wrote {args.png}")
    if args.table:
        print(table(points, points_b, tuple(args.names)))


if __name__ == "__main__":
    main()
