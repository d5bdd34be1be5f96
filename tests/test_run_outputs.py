"""What a finished `medfx run` leaves for reuse: predictions, tidy tables, strict JSON, versions, CIs, report."""

import csv
import json
import math
import stat

import numpy as np
import pytest
from conftest import TINY_UNET, make_npz

from medfx.config import load_config
from medfx.metrics.classification import METRIC_NAMES, classification_metrics
from medfx.report.tables import read_predictions
from medfx.workflows.pipeline import run_pipeline

METHODS = ["linear_best", "cats", "small_cnn", "resnet18"]
pytestmark = pytest.mark.slow  # one tiny pipeline run (~20 s CPU) shared by the module


def _strict_load(text):
    def bad(c):
        raise ValueError(f"non-strict JSON constant {c}")

    return json.loads(text, parse_constant=bad)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("outputs")
    data = make_npz(tmp / "toy.npz")
    cfg = load_config(None, [f"data.path={data}", f"run.out_dir={tmp}", "run.name=r", *TINY_UNET,
                             "train.steps=2", "train.batch_size=4", "features.timesteps=[0,20]",
                             "gaussianity.top_k=2", "heads.epochs=2", "heads.baseline_epochs=1", "heads.seeds=[0,1]",
                             "heads.batch_size=8", "heads.patience=0", f"heads.methods={METHODS}",
                             "heads.cats_width=16", "heads.cats_inputs=2", "heads.grid=2"])
    return run_pipeline(cfg, progress=False)


def test_predictions_match_the_reported_metrics(run):
    res = json.loads((run / "results.json").read_text())
    k = len(res["class_names"])
    for method in METHODS:
        for seed, row in res["methods"][method]["seeds"].items():
            f = run / "heads" / method / f"seed{seed}" / "predictions.csv"
            with f.open() as fh:
                header = next(csv.reader(fh))
            assert header[:4] == ["sample_id", "split", "label", "label_name"]
            assert header[4:] == [f"p_{c}" for c in range(k)] + ["pred", "pred_name"]
            test = read_predictions(f, "test")
            assert len(test["ids"]) == 8 and set(read_predictions(f, None)["split"]) == {"val", "test"}
            np.testing.assert_allclose(test["proba"].sum(1), 1.0, atol=1e-6)
            assert (test["pred"] == test["proba"].argmax(1)).all()
            m = classification_metrics(test["labels"], test["proba"], num_classes=k)
            for name in METRIC_NAMES:
                if row.get(name) is not None:
                    assert m[name] == pytest.approx(row[name], abs=1e-6), (method, seed, name)
            assert m["confusion"] == row["confusion"]


def test_results_csv_is_tidy(run):
    res = json.loads((run / "results.json").read_text())
    with (run / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["method", "seed", "metric", "value", "n_test"]
    keys = {(r["method"], r["seed"], r["metric"]) for r in rows}
    assert len(keys) == len(rows)  # one row per method x seed x metric
    for method, entry in res["methods"].items():
        for seed, row in entry["seeds"].items():
            for m in METRIC_NAMES:
                got = next(r["value"] for r in rows if (r["method"], r["seed"], r["metric"]) == (method, seed, m))
                assert (got == "" and row[m] is None) or float(got) == pytest.approx(row[m])
    assert ("resnet18", "1", "recall_class_1") in keys and ("cats", "0", "best_epoch") in keys


def test_every_json_file_is_strict_and_files_are_readable(run):
    files = list(run.rglob("*.json"))
    assert len(files) > 10
    for f in files:
        _strict_load(f.read_text())
    safet = run / "ddpm" / "model.safetensors"
    assert stat.S_IMODE(safet.stat().st_mode) & 0o044 == 0o044  # group/other readable, like every other file


def test_versions_and_done_record(run):
    v = _strict_load((run / "versions.json").read_text())
    assert v["packages"]["torch"] and v["packages"]["monai"] and v["python"] and v["host"] and v["cpu"]
    done = _strict_load((run / "done.json").read_text())
    assert done["wall_time_s"] > 0 and done["host"] == v["host"] and done["versions"]["packages"]["numpy"]
    assert {"pretrain", "extract", "probe", "gaussianity", "heads"} <= set(done["stage_times_s"])
    assert _strict_load((run / "ddpm" / "versions.json").read_text())["packages"]["monai"]
    ddpm_done = _strict_load((run / "ddpm" / "done.json").read_text())
    assert ddpm_done["versions"]["packages"]["torch"] and ddpm_done["wall_time_s_last_session"] > 0


def test_single_value_rows_have_no_spread(run):
    res = json.loads((run / "results.json").read_text())
    assert res["methods"]["linear_best"]["summary"]["auc"][1] is None  # deterministic: no "± 0.000"
    assert res["methods"]["cats"]["summary"]["auc"][1] is not None


def test_uncertainty_and_paired_comparisons(run):
    unc = _strict_load((run / "uncertainty.json").read_text())
    assert unc["reference"] == "resnet18" and unc["n_test"] == 8
    assert set(unc["ci"]) == set(METHODS)
    assert set(unc["paired"]) == set(METHODS) - {"resnet18"}
    for method, cis in unc["ci"].items():
        for m, ci in cis.items():
            if ci["estimate"] is not None and ci["low"] is not None:
                assert ci["low"] - 1e-9 <= ci["estimate"] <= ci["high"] + 1e-9, (method, m)
    assert "auc_delong" in unc["paired"]["cats"]
    with (run / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(METHODS) * len(METRIC_NAMES)
    cats_auc = next(r for r in rows if r["method"] == "cats" and r["metric"] == "auc")
    assert cats_auc["reference"] == "resnet18" and "[" in cats_auc["diff_text"]
    assert not math.isnan(float(cats_auc["estimate"]))


def test_report_sections_figures_and_no_fake_spread(run):
    import base64
    import io
    import re

    from PIL import Image

    html = (run / "report.html").read_text()
    for section in ("results", "notes", "per-class", "roc", "confusion", "curves", "probe", "gaussianity",
                    "diffusion", "data", "settings", "environment", "files"):
        assert f'id="{section}"' in html, section
    assert "Paired differences against ResNet-18" in html
    row = html[html.index("linear probe, best (block, t)</td>"):].split("</tr>")[0]
    assert "±" not in row  # deterministic: no "± 0.000"
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(imgs) >= 15
    for b in imgs:
        Image.open(io.BytesIO(base64.b64decode(b))).load()
    assert "torch" in html and "versions" not in html.split('id="environment"')[1][:20]
    assert 'href="heads/cats/seed0/predictions.csv"' in html and "src=\"http" not in html


def test_report_notes_flag_every_deviation(tmp_path):
    from medfx.report.html import _notes

    cfg = {"heads": {"epochs": 5, "baseline_epochs": 3}, "model": {"conditional": False}, "probe": {"mode": "cv"}}
    results = {"methods": {
        "dcube": {"seeds": {"0": {"cycle_term": False, "best_epoch": 2, "epoch_cap": 5, "confusion": [[3, 1], [1, 3]]}}},
        "resnet18": {"seeds": {"0": {"best_epoch": 3, "confusion": [[0, 4], [0, 4]]}}}}}
    selection = {"alpha": 0.05, "selected": [["mid", 0]], "rejected": [["up.0", 10]]}
    ks = {"table": [{"block": "mid", "t": 0, "pvalue": 0.4}, {"block": "up.0", "t": 10, "pvalue": 0.9}]}
    text = " ".join(n["text"] for n in _notes(tmp_path, results, cfg, selection, ks, 8))
    assert "WITHOUT its cycle term" in text
    assert "KS fallback" in text  # derived from ks_map.json when selection.json predates the flag
    assert "epoch cap (3)" in text and "ResNet-18" in text  # baseline cap from heads.baseline_epochs
    assert "degenerate" in text and "cv mode" in text and "Small test set" in text
    ok = _notes(tmp_path, {"methods": {"cats": {"seeds": {"0": {"best_epoch": 2, "epoch_cap": 5,
                                                                  "confusion": [[3, 1], [1, 3]]}}}}},
                {"heads": {"epochs": 5}}, {"alpha": 0.05, "selected": [["mid", 0]], "fallback": False}, None, 500)
    assert [n["text"] for n in ok if n["level"] == "warn"] == []


def test_tensorboard_holds_every_stage(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def read(part):
        acc = EventAccumulator(str(run / part), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
        acc.Reload()
        return acc

    assert read("ddpm/tb").Images("samples") and read("ddpm/tb").Scalars("train/loss")
    assert read("tb/gaussianity").Images("gaussianity/ks_map")
    assert any(t.startswith("probe/probe_auc") for t in read("tb/probe").Tags()["images"])
    res = json.loads((run / "results.json").read_text())["methods"]
    for method in METHODS:
        for seed, row in res[method]["seeds"].items():
            acc = read(f"tb/heads/{method}" + ("" if seed == "-" else f"/seed{seed}"))
            assert [e.value for e in acc.Scalars("test/auc")] == pytest.approx([row["auc"]]), (method, seed)
            assert acc.PluginTagToContent("hparams"), (method, seed)  # one HParams session per trained model
            if row.get("history"):
                assert [e.value for e in acc.Scalars("val/auc")] == pytest.approx([h["val_auc"] for h in row["history"]])


def test_mlflow_logger_with_a_local_file_store(run, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps file stores behind this opt-in
    from mlflow.tracking import MlflowClient

    from medfx.workflows.tracking import export_mlflow

    uri = (tmp_path / "mlruns").as_uri()
    run_id = export_mlflow(run, uri, "medfx-test")
    assert export_mlflow(run, uri, "medfx-test") == run_id  # unchanged run: nothing logged twice
    client = MlflowClient(tracking_uri=uri)
    data = client.get_run(run_id).data
    res = json.loads((run / "results.json").read_text())
    assert data.metrics["cats.auc"] == pytest.approx(res["methods"]["cats"]["summary"]["auc"][0])
    assert data.params["heads.epochs"] == "2" and data.tags["mlflow.runName"] == run.name
    assert len(client.get_metric_history(run_id, "cats.seed0.val_auc")) == 2
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {"report.html", "results.csv", "uncertainty.json", "predictions"} <= names

