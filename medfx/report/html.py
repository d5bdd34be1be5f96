"""``build_report(run_dir)`` -> ``run_dir/report.html``: one file that opens in any browser, offline."""

from __future__ import annotations

import base64
import html
import json
from datetime import datetime, timezone
from pathlib import Path

from ..metrics.classification import METRIC_NAMES

METRICS = METRIC_NAMES

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em} td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
.figs{display:flex;flex-wrap:wrap;gap:12px} figure{margin:0} figcaption{font-size:.85em;color:#555}
img{max-width:520px;border:1px solid #eee} .note{color:#555;font-size:.9em}
"""


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _figs(items) -> str:
    parts = [_img(p, c) for p, c in items if p is not None and Path(p).is_file()]
    return '<div class="figs">' + "".join(parts) + "</div>" if parts else '<p class="note">(no figure)</p>'


def _fmt(v) -> str:
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return f"{v[0]:.3f} &plusmn; {v[1]:.3f}"
    if isinstance(v, float):
        return f"{v:.3f}"
    return html.escape(str(v))


def _results_table(results: dict) -> str:
    labels = {"cats": "CATS-like head (ours)", "dcube": "D-Cube head", "linear_best": "linear probe, best (block, t)",
              "resnet18": "ResNet-18 (scratch)", "resnet50": "ResNet-50 (scratch)", "small_cnn": "small CNN"}
    rows = ["<table><tr><th>method</th>" + "".join(f"<th>{m}</th>" for m in METRICS)
            + "<th>trainable params</th><th>train time / seed (s)</th><th>seeds</th><th>input</th></tr>"]
    for name, e in results.get("methods", {}).items():
        s = e.get("summary", {})
        params = e.get("params")
        cells = "".join(f"<td>{_fmt(s[m]) if m in s else '-'}</td>" for m in METRICS)
        rows.append(f"<tr><td>{html.escape(labels.get(name, name))}</td>{cells}"
                    f"<td>{f'{params:,}' if isinstance(params, int) else '-'}</td>"
                    f"<td>{_fmt(s['wall_time_s']) if 'wall_time_s' in s else '-'}</td>"
                    f"<td>{len(e.get('seeds', {}))}</td><td>{html.escape(json.dumps(e.get('input', '')))}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _cv_table(results: dict) -> str:
    """Cross-validated scores, in their own table: they are never test scores."""
    cv = dict(results.get("cv_scores", {}))
    cv.update((results.get("cv") or {}).get("methods", {}))
    if not cv:
        return ""
    rows = ["<table><tr><th>method</th><th>scored on</th>" + "".join(f"<th>{m}</th>" for m in METRICS)
            + "<th>note</th></tr>"]
    for name, e in cv.items():
        s = e.get("summary", {})
        cells = "".join(f"<td>{_fmt(s[m]) if s.get(m) is not None and None not in s[m] else '-'}</td>"
                        for m in METRICS)
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(str(e.get('score_on', 'CV')))}</td>{cells}"
                    f"<td>{html.escape(str(e.get('note', '')))}</td></tr>")
    rows.append("</table>")
    return ("<h2 id='cv'>Cross-validation on train+val (mean &plusmn; sd over folds; not test scores)</h2>"
            + "".join(rows))


def build_report(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    results = json.loads((run_dir / "results.json").read_text()) if (run_dir / "results.json").exists() else {}
    ddpm = run_dir / "ddpm-finetune" if (run_dir / "ddpm-finetune" / "loss.png").exists() else run_dir / "ddpm"
    samples = sorted((ddpm / "samples").glob("*.png")) if (ddpm / "samples").exists() else []
    pre_samples = sorted((run_dir / "ddpm" / "samples").glob("*.png")) if (run_dir / "ddpm" / "samples").exists() else []
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>medfx report: {html.escape(run_dir.name)}</title>"
           f"<style>{_CSS}</style></head><body>",
           f"<h1>medfx report: {html.escape(run_dir.name)}</h1>",
           f"<p class='note'>generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}. All choices (probe C, best "
           "(block, t), head epochs) were made on validation data; numbers below are on the test split.</p>"]

    out.append("<h2 id='results'>Results (test split, mean &plusmn; sd over seeds)</h2>")
    out.append(_results_table(results) if results.get("methods") else "<p class='note'>(no test-split results)</p>")
    out.append(_cv_table(results))
    if results.get("inputs"):
        out.append(f"<p class='note'>CATS-like inputs (top by validation AUC): {html.escape(str(results['inputs'].get('cats')))};"
                   f" D-Cube inputs (non-Gaussian by KS): {html.escape(str(results['inputs'].get('dcube')))}. "
                   "The CATS head is our reconstruction (only the paper's abstract is public).</p>")

    out.append("<h2 id='diffusion'>Diffusion model</h2>")
    out.append(_figs([(run_dir / "ddpm" / "loss.png", "pretraining loss"),
                      (run_dir / "ddpm-finetune" / "loss.png", "fine-tuning loss"),
                      (pre_samples[-1] if pre_samples else None, "samples (pretrained, EMA, DDIM)"),
                      (samples[-1] if samples and ddpm.name == "ddpm-finetune" else None, "samples (fine-tuned)")]))

    out.append("<h2 id='probe'>Linear probes over blocks x timesteps</h2>")
    best = run_dir / "probe" / "best.json"
    score_on = "test"
    if best.exists():
        b = json.loads(best.read_text())
        score_on = b.get("score_on", "test")
        out.append(f"<p>Best cell by {html.escape(b.get('chosen_by', 'validation AUC'))}: "
                   f"<b>({html.escape(b['block'])}, t={b['t']})</b>.</p>")
    out.append(_figs([(run_dir / "probe" / f"probe_{m}_test.png", f"probe {m} ({html.escape(score_on)})")
                      for m in ("auc", "f1", "bacc")]))

    out.append("<h2 id='gaussianity'>Gaussianity (KS) map</h2>")
    sel = run_dir / "gaussianity" / "selection.json"
    if sel.exists():
        s = json.loads(sel.read_text())
        out.append(f"<p>Selected (non-Gaussian): {html.escape(str(s['selected']))}; rejected (most Gaussian): "
                   f"{html.escape(str(s['rejected']))}.</p>")
        on = (s.get("selected_probe") or {}).get("score_on", "test")
        rows = [f"<table><tr><th>probe on ({html.escape(on)})</th>" + "".join(f"<th>{m}</th>" for m in METRICS) + "</tr>"]
        for name in ("selected_probe", "rejected_probe"):
            if name in s:
                rows.append(f"<tr><td>{name.split('_')[0]} blocks</td>"
                            + "".join(f"<td>{_fmt(s[name].get(m + '_mean'))}</td>" for m in METRICS) + "</tr>")
        out.append("".join(rows) + "</table>")
        by_t = [r for r in s.get("by_t", []) if r.get("delta")]
        if by_t:
            on = by_t[0]["selected_probe"].get("score_on", "test")
            rows = [f"<p>Controlled for t (selected vs rejected blocks at the same timestep; {html.escape(on)}):</p>"
                    "<table><tr><th>t</th><th>selected</th><th>rejected</th><th>AUC selected</th>"
                    "<th>AUC rejected</th><th>difference</th></tr>"]
            for r in by_t:
                rows.append(f"<tr><td>{r['t']}</td><td>{html.escape(str(r['selected']))}</td>"
                            f"<td>{html.escape(str(r['rejected']))}</td>"
                            f"<td>{_fmt(r['selected_probe'].get('auc_mean'))}</td>"
                            f"<td>{_fmt(r['rejected_probe'].get('auc_mean'))}</td>"
                            f"<td>{_fmt(r['delta']['auc'])}</td></tr>")
            out.append("".join(rows) + "</table>")
    out.append(_figs([(run_dir / "gaussianity" / "ks_pvalues.png", "KS p-value per block (log scale)"),
                      (run_dir / "gaussianity" / "ks_by_block.png", "KS p-value per block, all t pooled")]))

    out.append("<h2 id='cats'>CATS-like mixing weights</h2>")
    out.append(_figs([(p, f"mixing weights ({p.parent.name})") for p in
                      sorted((run_dir / "heads" / "cats").glob("seed*/mixing_weights.png"))]))
    out.append("<h2 id='confusion'>Confusion matrices (first seed, test)</h2>")
    out.append(_figs([(p, p.parent.parent.name) for p in sorted((run_dir / "heads").glob("*/seed*/confusion.png"))]))
    out.append("<h2 id='roc'>ROC curves (first seed, test)</h2>")
    out.append(_figs([(p, p.parent.parent.name) for p in sorted((run_dir / "heads").glob("*/seed*/roc.png"))]))
    out.append("</body></html>")
    path = run_dir / "report.html"
    path.write_text("\n".join(out))
    return path
