"""The report in a real browser: headless Chromium loads report.html without errors and every figure decodes.

Skipped when no Chromium is installed (`apt-get install chromium`; `.ci/run` installs it when apt is available).
The run directory is synthetic (made here, no training) but goes through the same writers as `medfx run`:
predictions.csv, results.json / results.csv, uncertainty.json, versions.json, a config with real data.
"""

import re
import shutil
import subprocess

import numpy as np
import pytest
import yaml
from conftest import make_npz

from medfx.report import build_report
from medfx.report.tables import write_predictions, write_results_csv, write_uncertainty
from medfx.utils.io import write_json
from medfx.utils.provenance import versions

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH")]

CHECK = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.type)), true);
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0)).map(i => i.alt);
  const out = document.createElement('pre');
  out.id = 'medfx-check';
  out.textContent = JSON.stringify({images: imgs.length, bad: bad, errors: window.__errors,
                                    sections: Array.from(document.querySelectorAll('h2[id]')).map(h => h.id)});
  document.body.appendChild(out);
});
</script>"""


def _fake_run(tmp_path):
    rng = np.random.default_rng(0)
    run = tmp_path / "run"
    data = make_npz(tmp_path / "toy.npz")
    n = 8
    ids = [f"test-{i}" for i in range(n)]
    y = np.arange(n) % 2
    results = {"class_names": ["normal", "pneumonia"], "methods": {}}
    for method, seeds in (("linear_best", ["-"]), ("cats", ["0", "1"]), ("resnet18", ["0", "1"])):
        entry = {"seeds": {}, "summary": {}}
        for s in seeds:
            logits = rng.normal(size=(n, 2))
            logits[np.arange(n), y] += 1.5
            p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
            write_predictions(run / "heads" / method / f"seed{s}" / "predictions.csv", ids, ["test"] * n, y, p,
                              results["class_names"])
            cm = np.zeros((2, 2), int)
            np.add.at(cm, (y, p.argmax(1)), 1)
            hist = [{"epoch": e, "train_total": 1 / e, "val_loss": 1.2 / e, "val_auc": 0.6 + 0.05 * e} for e in (1, 2, 3)]
            entry["seeds"][s] = {"auc": 0.8, "bacc": 0.7, "acc": 0.7, "precision": 0.7, "recall": 0.7, "f1": 0.7,
                                 "confusion": cm.tolist(), "recall_per_class": [0.7, 0.7], "best_epoch": 3,
                                 "epoch_cap": 3, "history": [] if method == "linear_best" else hist}
        entry["summary"] = {m: [0.7, None if len(seeds) == 1 else 0.01] for m in ("acc", "bacc", "auc")}
        entry["summary"]["recall_per_class"] = [0.7, 0.7]
        results["methods"][method] = entry
    write_json(run / "results.json", results)
    write_results_csv(run / "results.csv", results)
    write_uncertainty(run, results, n_boot=200)
    write_json(run / "versions.json", versions())
    write_json(run / "done.json", {"wall_time_s": 12.5, "stage_times_s": {"heads": 10.0, "report": 2.5}})
    write_json(run / "data_check.json", {"ok": True, "splits": {"train": 24, "test": 8}, "warnings": []})
    (run / "config.yaml").write_text(yaml.safe_dump({"data": {"path": str(data)}, "heads": {"epochs": 3}}))
    return run


def _browser_check(tmp_path, html: str) -> dict:
    """Load ``html`` (with the CHECK script) in headless Chromium; the script's report of images and errors."""
    import html as html_mod
    import json

    checked = tmp_path / "checked.html"
    checked.write_text(html.replace("<head>", "<head>" + CHECK, 1))
    out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--dump-dom", checked.as_uri()], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    m = re.search(r'<pre id="medfx-check">(.*?)</pre>', out.stdout, re.S)
    assert m, out.stdout[-2000:]
    return json.loads(html_mod.unescape(m.group(1)))


def test_budget_report_renders_in_headless_chromium(tmp_path):
    """A label-budget run's report (per-budget tables, figures of every budget, the middle one folded) loads
    without errors and every figure decodes: 3 budgets x (1 overlay + 3 ROC + 3 confusion + 2 curve figures)."""
    from test_report_budgets import _fake_budget_run

    run = tmp_path / "run"
    _fake_budget_run(run)
    html = build_report(run).read_text()
    check = _browser_check(tmp_path, html)
    assert check["errors"] == [] and check["bad"] == [] and check["images"] == html.count("data:image/png;base64,")
    figs = [html.count(f'alt="{x}') for x in ("every method", "ROC ", "confusion ", "curves ")]
    assert figs == [3, 3 * 3, 3 * 3, 3 * 2]
    assert check["sections"][:2] == ["results", "budgets"]


def test_report_renders_in_headless_chromium(tmp_path):
    run = _fake_run(tmp_path)
    html = build_report(run).read_text()
    check = _browser_check(tmp_path, html)
    assert check["errors"] == []
    assert check["bad"] == [] and check["images"] == html.count("data:image/png;base64,") >= 8
    assert {"results", "notes", "roc", "confusion", "curves", "data", "environment"} <= set(check["sections"])
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1300,1600", f"--screenshot={shot}", (run / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 20_000  # something was drawn
