"""The report of a label-budget run (``heads.label_budgets``): learning curves, per-budget intervals and paired
differences against ResNet-18 (from ``budgets/b<B>/uncertainty.json``), ROC / confusion / training curves of the
smallest and largest budget (from the cells' ``predictions.csv`` and ``metrics.json``), and accurate notes."""

import json
import re

import numpy as np
import pytest

from medfx.report.tables import write_predictions, write_uncertainty
from medfx.utils.io import write_json

BUDGETS, SEEDS, METHODS = ("2", "5", "all"), (0, 1), ("linear_best", "small_cnn", "resnet18")


def _fake_budget_run(run, n=24, with_unc=BUDGETS):
    """A run directory as the budget stage writes it: per cell predictions.csv and metrics.json (trained cells
    with a per-epoch history), per budget uncertainty.json, the learning-curve table in results.json."""
    from sklearn.metrics import recall_score

    rng = np.random.default_rng(0)
    ids = [f"test-{i}" for i in range(n)]
    y = np.arange(n) % 2
    table, top = [], {}
    for b in BUDGETS:
        for m in METHODS:
            aucs = []
            for s in SEEDS:
                logits = rng.normal(size=(n, 2))
                logits[np.arange(n), y] += 1.0 + 0.3 * METHODS.index(m)
                p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
                cdir = run / "budgets" / f"b{b}" / f"seed{s}" / m
                write_predictions(cdir / "predictions.csv", ids, ["test"] * n, y, p, ["normal", "pneumonia"])
                cell = {"auc": 0.7 + 0.01 * s, "bacc": 0.6, "f1": 0.6, "acc": 0.6, "params": 10,
                        "recall_per_class": recall_score(y, p.argmax(1), average=None).tolist(),
                        "support_per_class": np.bincount(y).tolist()}
                if m != "linear_best":
                    epochs = 3 + s
                    cell.update(best_epoch=2, epoch_cap=epochs, epochs_run=epochs,
                                history=[{"epoch": e, "train_total": 1 / e, "val_auc": 0.5 + 0.05 * e}
                                         for e in range(1, epochs + 1)])
                write_json(cdir / "metrics.json", cell)
                aucs.append(cell["auc"])
                if b == "all":
                    top.setdefault(m, {"seeds": {}})["seeds"][str(s)] = cell
            table.append({"method": m, "budget": b, "n_train": 4 if b == "2" else 40, "n_val": 10, "seeds": 2,
                          **{f"{x}_mean": 0.6 for x in ("f1", "bacc", "acc")}, "auc_mean": float(np.mean(aucs)),
                          "auc_sd": float(np.std(aucs, ddof=1))})
        if b in with_unc:
            per = {"methods": {m: {"seeds": {s: {} for s in SEEDS}} for m in METHODS}}
            out = run / "budgets" / f"b{b}"
            write_uncertainty(out, per, n_boot=200, path_of=lambda m, s, out=out: out / f"seed{s}" / m / "predictions.csv")
    results = {"class_names": ["normal", "pneumonia"], "methods": top,
               "label_budgets": {"budgets": list(BUDGETS), "seeds": list(SEEDS), "validation_rule": "validation: x",
                                 "test_n": n, "table": table}}
    write_json(run / "results.json", results)
    (run / "config.yaml").write_text("heads:\n  epochs: 3\n  label_budgets: [2, 5, all]\n  budget_min_steps: 300\n")
    return y


@pytest.fixture
def no_drawing(monkeypatch):
    """Figures as placeholder bytes: for tests of the report's numbers and notes (drawing dominates their time)."""
    from medfx.report import figures

    for name in ("roc_overlay", "roc_per_seed", "confusion_summed", "training_curves"):
        monkeypatch.setattr(figures, name, lambda *a, **k: b"png")


def test_report_of_a_label_budget_run(tmp_path):
    """A budget run's report shows its learning curves, the scaled epoch cap and what it lacks."""
    import matplotlib.pyplot as plt

    from medfx.report.html import build_context, render

    plt.figure()
    plt.plot([1, 2])
    plt.savefig(tmp_path / "learning_curves.png")
    plt.close()
    cell = {"auc": 0.8, "bacc": 0.7, "best_epoch": 12, "epochs_max": 12, "input": [["mid", 10]],
            "confusion": [[3, 1], [1, 3]]}
    table = [{"method": m, "budget": b, "n_train": n, "n_val": 10, "seeds": 2, "auc_mean": 0.7, "auc_sd": 0.05}
             for m in ("linear_ks", "cats") for b, n in (("5", 10), ("all", 40))]
    results = {"class_names": ["a", "b"], "methods": {"cats": {"seeds": {"0": cell, "1": cell}}},
               "label_budgets": {"budgets": ["5", "all"], "seeds": [0, 1], "validation_rule": "validation: x",
                                 "test_n": 8, "table": table}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    (tmp_path / "config.yaml").write_text("heads:\n  epochs: 3\n  label_budgets: [5, all]\n  budget_min_steps: 300\n")
    ctx = build_context(tmp_path)
    assert ctx["sections"][:2] == ("results", "budgets") and ctx["budgets"]["fig"] is not None
    t5 = ctx["budgets"]["tables"][0]
    assert t5["budget"] == "5" and t5["n_train"] == 10 and not t5["has_ci"]
    assert [r["label"] for r in t5["rows"]] == ["linear probe, KS-selected keys", "CATS-like head (ours)"]
    assert t5["rows"][0]["cells"][2] == {"mean_sd": "0.700 ± 0.050", "ci": ""}  # auc: no interval without the file
    assert ctx["results"][0]["best_epoch"] == "12, 12 / 12" and ctx["results"][0]["input"] == "(mid, t=10)"
    text = " ".join(n["text"] for n in ctx["notes"])
    assert "Label-budget run" in text and "budget_min_steps = 300" in text
    assert "No intervals for budget(s) 5, all" in text
    assert "writes no uncertainty.json" not in text  # the stale claim is gone
    assert "epoch cap (12)" in text and "epoch cap (3)" not in text  # the scaled cap, not heads.epochs
    assert "CATS-like head (ours) (budget all): best validation epoch" in text
    assert "No per-sample predictions" not in text  # the plain run's note (heads/*/predictions.csv)
    assert "`medfx evaluate RUN` computes them" in text  # evaluate writes a budget run's intervals
    html = render(ctx)
    assert 'id="budgets"' in html and "no budgets/b5/uncertainty.json" in html
    assert "Results (test split, largest label budget: all per class)" in html


def test_budget_report_intervals_differences_figures_and_curves(tmp_path):
    """Every budget's table shows the intervals and paired differences of its uncertainty.json (read back from
    the file), the confusion matrices equal scikit-learn's on the cells' predictions.csv (summed over seeds), and
    the training curves are drawn for the smallest and largest budget from the cells' histories."""
    from sklearn.metrics import confusion_matrix, recall_score

    from medfx.report.html import build_context, label, render
    from medfx.report.tables import read_predictions

    _fake_budget_run(tmp_path)
    ctx = build_context(tmp_path)
    tables = {t["budget"]: t for t in ctx["budgets"]["tables"]}
    assert list(tables) == list(BUDGETS) and ctx["budgets"]["reference"] == "ResNet-18 (scratch)"
    for b, t in tables.items():
        unc = json.loads((tmp_path / "budgets" / f"b{b}" / "uncertainty.json").read_text())
        assert t["has_ci"] and t["has_paired"]
        for m, row in zip(METHODS, t["rows"]):
            ci = unc["ci"][m]["auc"]
            assert row["cells"][2]["ci"] == f"[{ci['low']:.3f}, {ci['high']:.3f}]", (b, m)
            if m == "resnet18":
                assert row["reference"]
                continue
            d = unc["paired"][m]["auc"]
            assert row["diffs"][2]["diff"] == f"{d['diff']:+.3f}" and row["diffs"][2]["ci"] == \
                f"[{d['low']:+.3f}, {d['high']:+.3f}]"
            assert row["diffs"][2]["sig"] == (d["low"] > 0 or d["high"] < 0)
            dl = unc["paired"][m]["auc_delong"]
            assert row["delong"].startswith(f"{dl['diff']:+.3f} [{dl['low']:+.3f}, {dl['high']:+.3f}]")
    # the results table (largest budget) gets that budget's intervals too; the probe's seeds drew different
    # labelled subsets, so it is not "deterministic" there
    assert ctx["results"][0]["label"] == "linear probe, best (block, t)" and ctx["results"][0]["seeds"] == "2"
    top = json.loads((tmp_path / "budgets" / "ball" / "uncertainty.json").read_text())
    assert ctx["results"][0]["cells"][-1]["ci"] == f"[{top['ci']['linear_best']['auc']['low']:.3f}, " \
        f"{top['ci']['linear_best']['auc']['high']:.3f}]"
    # every budget has its figures; the middle ones are folded
    assert [(g["budget"], g["folded"]) for g in ctx["figure_groups"]] == [("2", False), ("5", True), ("all", False)]
    for g in ctx["figure_groups"]:
        assert g["overlay"] is not None and len(g["roc"]) == len(METHODS)
        for f in g["confusion"]:
            cm = sum(confusion_matrix(d["labels"], d["pred"], labels=[0, 1]) for d in
                     (read_predictions(tmp_path / "budgets" / f"b{g['budget']}" / f"seed{s}" / f["method"]
                                       / "predictions.csv") for s in SEEDS))
            assert f["data"] == cm.tolist(), (g["budget"], f["method"])
        assert [f["method"] for f in g["curves"]] == ["small_cnn", "resnet18"]  # the trained methods
        for t, m in zip(g["per_class"], METHODS):  # recall per class, mean over seeds, from predictions.csv
            recall = np.mean([recall_score(d["labels"], d["pred"], average=None) for d in
                              (read_predictions(tmp_path / "budgets" / f"b{g['budget']}" / f"seed{s}" / m
                                                / "predictions.csv") for s in SEEDS)], axis=0)
            assert t["label"] == label(m) and [r["recall"] for r in t["rows"]] == [f"{x:.3f}" for x in recall]
            assert [r["support"] for r in t["rows"]] == [12, 12] and [r["cls"] for r in t["rows"]] == ["normal",
                                                                                                   "pneumonia"]
        for f in g["curves"]:
            assert f["epochs"] == {"0": 3, "1": 4}
    text = " ".join(n["text"] for n in ctx["notes"])
    assert "Intervals (budgets/b<B>/uncertainty.json) for budget(s) 2, 5, all" in text
    assert "paired differences against ResNet-18 for 2, 5, all" in text and "shown for budget(s) 2, all" in text
    assert "folded (click to open) for budget(s) 5" in text
    assert "have no epoch history" not in text
    html = render(ctx)
    assert html.count("<h3>budget 2 labels per class</h3>") == 4  # per class, ROC, confusion, curves
    folded = re.findall(r'<details class="budget"><summary>budget 5 labels per class</summary>(.*?)</details>', html,
                        re.S)
    assert len(folded) == 4 and "<h3>budget 5 labels per class</h3>" not in html
    assert all("data:image/png;base64," in f for f in folded[1:])  # ROC, confusion and curves figures inside
    assert "budgets/b5/uncertainty.json" in html and "budgets/ball/summary.csv" in html  # listed under files


def test_budget_report_names_missing_intervals_and_histories(tmp_path, no_drawing):
    """A budget without uncertainty.json and cells without a history are named in the notes."""
    from medfx.report.html import build_context

    _fake_budget_run(tmp_path, with_unc=("all",))
    f = tmp_path / "budgets" / "b2" / "seed0" / "small_cnn" / "metrics.json"
    cell = json.loads(f.read_text())
    del cell["history"]
    write_json(f, cell)
    ctx = build_context(tmp_path)
    text = " ".join(n["text"] for n in ctx["notes"])
    assert "No intervals for budget(s) 2, 5" in text
    assert "1 of 12 trained cells have no epoch history" in text
    g2 = ctx["figure_groups"][0]
    assert g2["budget"] == "2" and [f["epochs"] for f in g2["curves"] if f["method"] == "small_cnn"] == [{"1": 4}]
    assert not ctx["budgets"]["tables"][0]["has_ci"] and ctx["budgets"]["tables"][-1]["has_paired"]


@pytest.mark.parametrize("paired", [True, False])
def test_budget_console_table_rows_match_summary_csv(tmp_path, paired):
    """The console table of a budget run: one row per budget x method whose interval and paired difference are
    those of that budget's summary.csv."""
    import csv

    from medfx.report.tables import format_budget_table

    _fake_budget_run(tmp_path)
    per_budget = []
    for b in BUDGETS:
        unc = json.loads((tmp_path / "budgets" / f"b{b}" / "uncertainty.json").read_text())
        if not paired:
            unc["paired"] = {}
        per_budget.append((b, {"methods": {m: {"seeds": {"0": {}, "1": {}}, "summary": {"auc": [0.7, 0.01]}}
                                           for m in METHODS}}, unc))
    lines = format_budget_table(per_budget, metrics=("auc", "bacc")).splitlines()
    assert "n = 24" in lines[0] and lines[1].split()[:3] == ["budget", "method", "seeds"]
    body = lines[3:]
    assert len(body) == len(BUDGETS) * len(METHODS)
    for b in BUDGETS:
        with (tmp_path / "budgets" / f"b{b}" / "summary.csv").open() as fh:
            rows = {(r["method"], r["metric"]): r for r in csv.DictReader(fh)}
        for m in METHODS:
            line = next(x for x in body if x.split()[:2] == [b, m])
            r = rows[(m, "auc")]
            assert f"0.700 ± 0.010 [{float(r['ci_low']):.3f}, {float(r['ci_high']):.3f}]" in line
            if not paired:
                assert line.rstrip().endswith("]") and "(reference)" not in line
            elif m == "resnet18":
                assert "(reference)" in line
            else:
                assert f"{float(r['diff']):+.3f} [{float(r['diff_low']):+.3f}, {float(r['diff_high']):+.3f}]" in line


def test_budget_report_flags_degenerate_and_capped_cells_at_every_budget(tmp_path, no_drawing):
    """Cells of the smaller budgets that predict one class, or whose best epoch is their scaled cap (not
    heads.epochs), are named per budget; the largest budget's cells are flagged per method as in a plain run."""
    from medfx.report.html import build_context

    _fake_budget_run(tmp_path)

    def edit(b, s, m, **kw):
        f = tmp_path / "budgets" / f"b{b}" / f"seed{s}" / m / "metrics.json"
        write_json(f, {**json.loads(f.read_text()), **kw})

    edit("2", 0, "small_cnn", confusion=[[12, 0], [12, 0]])
    edit("2", 1, "small_cnn", confusion=[[0, 12], [0, 12]])
    edit("5", 0, "linear_best", confusion=[[6, 6], [6, 6]])  # two classes predicted: not degenerate
    edit("5", 1, "resnet18", best_epoch=4)  # seed 1's cap is 4 (heads.epochs is 3)
    edit("5", 0, "resnet18", best_epoch=3)  # seed 0's cap is 3
    edit("all", 0, "small_cnn", confusion=[[12, 0], [12, 0]])  # the largest budget: not in the budget note
    text = [n["text"] for n in build_context(tmp_path)["notes"] if n["level"] == "warn"]
    deg = next(t for t in text if t.startswith("Degenerate cells"))
    assert deg.endswith("budget 2: small CNN (seed 0, 1).")
    cap = next(t for t in text if t.startswith("Cells at smaller budgets"))
    assert cap.endswith("budget 5: ResNet-18 (scratch) (seed 0, 1).")


def test_evaluate_recomputes_the_intervals_of_a_budget_run(tmp_path):
    """``medfx evaluate`` of a budget run (cells keep predictions, not models) writes the missing per-budget
    uncertainty.json from the cells' predictions: the same estimates and paired differences as the stage's."""
    from medfx.workflows.pipeline import evaluate_run

    _fake_budget_run(tmp_path)
    f = tmp_path / "budgets" / "b2" / "uncertainty.json"
    before = json.loads(f.read_text())
    f.unlink()
    (tmp_path / "budgets" / "b2" / "summary.csv").unlink()
    results = json.loads((tmp_path / "results.json").read_text())
    assert evaluate_run(tmp_path) == results
    after = json.loads(f.read_text())
    for m in METHODS:
        assert after["ci"][m]["auc"]["estimate"] == pytest.approx(before["ci"][m]["auc"]["estimate"])
    assert after["paired"]["small_cnn"]["f1"]["diff"] == pytest.approx(before["paired"]["small_cnn"]["f1"]["diff"])
    assert (tmp_path / "budgets" / "b2" / "summary.csv").is_file() and not (tmp_path / "results.csv").exists()
