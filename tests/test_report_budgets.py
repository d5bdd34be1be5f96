"""The report of a label-budget run (``heads.label_budgets``): learning curves, the scaled epoch cap, and a
plain statement of what such a run lacks (per-sample predictions, so no intervals)."""

import json


def test_report_of_a_label_budget_run(tmp_path):
    """A budget run's report shows its learning curves, the scaled epoch cap and why it has no intervals."""
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
    assert [r["label"] for r in ctx["budgets"]["rows"]][:2] == ["linear probe, KS-selected keys"] * 2
    assert ctx["budgets"]["rows"][0]["cells"][2] == "0.700 ± 0.050"
    assert ctx["results"][0]["best_epoch"] == "12, 12 / 12" and ctx["results"][0]["input"] == "(mid, t=10)"
    text = " ".join(n["text"] for n in ctx["notes"])
    assert "Label-budget run" in text and "budget_min_steps = 300" in text and "no confidence intervals" in text
    assert "keeps no per-sample predictions either" in text  # none written in this fake run
    assert "epoch cap (12)" in text and "epoch cap (3)" not in text  # the scaled cap, not heads.epochs
    assert "medfx evaluate" not in text
    assert 'id="budgets"' in render(ctx)
