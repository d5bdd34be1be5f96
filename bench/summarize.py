"""Markdown tables for BENCHMARKS.md from the run directories under bench/runs/.

    python bench/summarize.py probe pneumonia28          # probe grid (test AUC) + best cell + KS selection
    python bench/summarize.py heads heads-pneumonia28    # methods table (mean ± sd over seeds)
    python bench/summarize.py table heads-brain64-e20 heads-brain64:small_cnn bench/results/resnet18_brain64.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RUNS = Path(__file__).parent / "runs"
METRICS = ("acc", "bacc", "precision", "recall", "f1", "auc")
LABELS = {"cats": "CATS-like head (ours)", "dcube": "D-Cube head", "linear_best": "linear probe, best (block, t)",
          "resnet18": "ResNet-18 (scratch)", "small_cnn": "small CNN"}


def probe(name: str) -> str:
    run = RUNS / name
    grid = json.loads((run / "probe" / "probe_grid.json").read_text())
    best = json.loads((run / "probe" / "best.json").read_text())
    ts = grid["timesteps"]
    cell = {(r["block"], r["t"]): r for r in grid["table"]}
    out = ["Test AUC per (block, t) (rows: blocks, columns: t); **bold** = best cell chosen on validation AUC.", "",
           "| block | " + " | ".join(f"t={t}" for t in ts) + " |", "|---" * (len(ts) + 1) + "|"]
    for b in grid["blocks"]:
        vals = []
        for t in ts:
            v = cell[(b, t)]["auc_mean"]
            s = f"{v:.3f}"
            vals.append(f"**{s}**" if (b, t) == (best["block"], best["t"]) else s)
        out.append(f"| {b} | " + " | ".join(vals) + " |")
    r = best["row"]
    out += ["", f"Best cell on validation: **({best['block']}, t={best['t']})**, val AUC {r['val_auc']:.3f}; test "
            + ", ".join(f"{m.upper() if m != 'bacc' else 'BACC'} {r[m + '_mean']:.3f}" for m in ("acc", "bacc", "f1", "auc"))
            + "."]
    sel = run / "gaussianity" / "selection.json"
    if sel.exists():
        s = json.loads(sel.read_text())
        fmt = lambda keys: ", ".join(f"({b}, {t})" for b, t in keys)  # noqa: E731
        out += ["", f"KS selection (non-Gaussian, train split): {fmt(s['selected'])}; most Gaussian: "
                f"{fmt(s['rejected'])}. Probe on the concatenated selected keys: test AUC "
                f"{s['selected_probe']['auc_mean']:.3f}, F1 {s['selected_probe']['f1_mean']:.3f}; on the rejected keys: "
                f"AUC {s['rejected_probe']['auc_mean']:.3f}, F1 {s['rejected_probe']['f1_mean']:.3f}."]
    meta = json.loads((run / "features" / "meta.json").read_text())
    out += ["", f"Feature bank: {len(meta['ids'])} samples x {len(meta['blocks'])} blocks x {len(meta['timesteps'])} "
            f"timesteps, extracted at {meta['samples_per_s']:.1f} samples/s ({meta['seconds']:.0f} s)."]
    done = run / "done.json"
    if done.exists():
        d = json.loads(done.read_text())
        out += [f"DDPM: {d['steps']} steps, final loss {d['final_loss']:.4f}, {d['parameters'] / 1e6:.2f}M parameters."]
    return "\n".join(out)


def heads(name: str) -> str:
    res = json.loads((RUNS / name / "results.json").read_text())
    out = ["| method | ACC | BACC | precision | recall | macro-F1 | AUC | trainable params | s / seed | seeds |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for m, e in res["methods"].items():
        s = e["summary"]
        cells = [(f"{s[x][0]:.3f} ± {s[x][1]:.3f}" if s[x][1] is not None else f"{s[x][0]:.3f}") if x in s else "-"
                 for x in METRICS]
        p = e.get("params")
        t = s.get("wall_time_s")
        out.append(f"| {LABELS.get(m, m)} | " + " | ".join(cells) + f" | {p:,} | " + (f"{t:.0f}" if t else "-")
                   + f" | {len(e['seeds'])} |")
    if "synthetic" in res:
        out += ["", f"Synthetic rebalancing: {json.dumps(res['synthetic'])}"]
        out += ["", "| method | recall per class (mean over seeds) |", "|---|---|"]
        for m, e in res["methods"].items():
            if "recall_per_class" in e["summary"]:
                rc = ", ".join(f"{c}: {v:.3f}" for c, v in zip(res["class_names"], e["summary"]["recall_per_class"]))
                out.append(f"| {LABELS.get(m, m)} | {rc} |")
    out += ["", f"Inputs: {json.dumps(res.get('inputs'))}"]
    return "\n".join(out)




def _row(label: str, seeds: dict, params, cap) -> str:
    import numpy as np

    rows = list(seeds.values())
    cells = []
    for x in METRICS:
        v = np.array([r[x] for r in rows], dtype=float)
        cells.append(f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.3f}")
    t = [r["wall_time_s"] for r in rows if "wall_time_s" in r]
    ep = [r["best_epoch"] for r in rows if "best_epoch" in r]
    return (f"| {label} | " + " | ".join(cells) + f" | {params:,} | " + (f"{sum(t) / len(t):.0f}" if t else "-")
            + " | " + (f"{', '.join(map(str, ep))} / {cap}" if ep else "-") + f" | {len(rows)} |")


def table(*specs: str) -> str:
    """One methods table from several sources: ``RUN`` (every method of bench/runs/RUN), ``RUN:m1,m2`` (some of
    them) or a ``bench/baseline_only.py`` JSON file."""
    import yaml

    out = ["| method | ACC | BACC | precision | recall | macro-F1 | AUC | trainable params | s / seed | best epoch / cap "
           "| seeds |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for spec in specs:
        if spec.endswith(".json"):
            d = json.loads(Path(spec).read_text())
            cfg = yaml.safe_load((Path(d["run"]) / "config.yaml").read_text())["heads"]
            p = next(iter(d["seeds"].values()))["params"]
            out.append(_row(f"{LABELS.get(d['method'], d['method'])} (`{Path(spec).name}`)", d["seeds"], p,
                            d.get("baseline_epochs", cfg["baseline_epochs"])))
            continue
        name, _, only = spec.partition(":")
        res = json.loads((RUNS / name / "results.json").read_text())
        cfg = yaml.safe_load((RUNS / name / "config.yaml").read_text())["heads"]
        for m, e in res["methods"].items():
            if only and m not in only.split(","):
                continue
            cap = cfg["epochs"] if m in ("cats", "dcube") else cfg["baseline_epochs"]
            out.append(_row(f"{LABELS.get(m, m)} (`{name}`)", e["seeds"], e["params"], "-" if m == "linear_best"
                            else cap))
    return "\n".join(out)


def throughput(path: str) -> str:
    d = json.loads(Path(path).read_text())
    out = ["| case | precision | batch | params | bare MONAI loop img/s | medfx pretrain img/s | ratio |",
           "|---|---|---|---|---|---|---|"]
    for r in d["results"]:
        out.append(f"| {r['case']} | {r['precision']} | {r['batch']} | {r['params_M']:.2f}M | {r['bare_img_s']:.1f} | "
                   f"{r['medfx_img_s']:.1f} | {r['ratio']:.3f} |")
    return "\n".join(out)


def extraction(path: str) -> str:
    import importlib.util

    spec = importlib.util.spec_from_file_location("eo", Path(__file__).parent / "extraction_overhead.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.markdown(json.loads(Path(path).read_text())["results"])


if __name__ == "__main__":
    kind, names = sys.argv[1], sys.argv[2:]
    print({"probe": probe, "heads": heads, "throughput": throughput, "extraction": extraction,
           "table": table}[kind](*names))
