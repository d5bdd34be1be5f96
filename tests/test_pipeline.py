"""`medfx run`: every stage end to end on tiny data, stage-by-stage resume, evaluate, report sections."""

import json

import pytest
from conftest import TINY_UNET, make_npz

from medfx.cli import main
from medfx.config import load_config
from medfx.workflows.pipeline import evaluate_run, run_pipeline

HEADS = ["heads.epochs=2", "heads.baseline_epochs=1", "heads.seeds=[0,1]", "heads.batch_size=8", "heads.patience=0",
         "heads.methods=['linear_best','cats','dcube','small_cnn','resnet18']", "heads.dcube_fuse=8",
         "heads.cats_width=16", "heads.cats_inputs=2", "heads.grid=2"]


def cfg_for(data, out, *extra):
    return load_config(None, [f"data.path={data}", f"run.out_dir={out}", "run.name=p", *TINY_UNET,
                              "train.steps=2", "train.batch_size=4", "features.timesteps=[0,20]",
                              "gaussianity.top_k=2", *HEADS, *extra])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipe")
    data = make_npz(tmp / "toy.npz")
    run_dir = run_pipeline(cfg_for(data, tmp), progress=False)
    return data, tmp, run_dir


def test_every_stage_writes_its_outputs(finished_run):
    _, _, run = finished_run
    for f in ("config.yaml", "ddpm/last.pt", "ddpm/loss.png", "features/meta.json", "probe/probe_grid.csv",
              "probe/probe_auc_test.png", "gaussianity/ks_pvalues.png", "gaussianity/selection.json",
              "features_grid/meta.json", "results.json", "report.html", "heads/cats/seed0/mixing_weights.png",
              "heads/dcube/seed1/model.pt", "heads/resnet18/seed0/roc.png", "heads/small_cnn/seed0/confusion.png"):
        assert (run / f).is_file(), f
    res = json.loads((run / "results.json").read_text())
    assert set(res["methods"]) == {"linear_best", "cats", "dcube", "small_cnn", "resnet18"}
    for name, entry in res["methods"].items():
        s = entry["summary"]
        assert set(s) >= {"acc", "bacc", "precision", "recall", "f1", "auc"}, name
        if name != "linear_best":
            assert len(entry["seeds"]) == 2 and entry["params"] > 0 and s["wall_time_s"] > 0
    assert res["inputs"]["cats"] and res["inputs"]["dcube"]


def test_report_contains_every_section(finished_run):
    html = (finished_run[2] / "report.html").read_text()
    for section in ("results", "diffusion", "probe", "gaussianity", "cats", "confusion", "roc"):
        assert f'id="{section}"' in html, section
    assert html.count("data:image/png;base64,") >= 10
    assert "CATS-like" in html and "src=\"http" not in html  # self-contained


def test_rerun_skips_finished_stages(finished_run):
    data, tmp, run = finished_run
    stamps = {f: (run / f).stat().st_mtime_ns for f in ("ddpm/last.pt", "features/meta.json",
                                                          "probe/probe_grid.json", "heads/cats/seed0/model.pt")}
    run_pipeline(cfg_for(data, tmp), progress=False)
    for f, s in stamps.items():
        assert (run / f).stat().st_mtime_ns == s, f"{f} was redone"


def test_resume_after_a_stage(tmp_path):
    data = make_npz(tmp_path / "toy.npz")
    cfg = cfg_for(data, tmp_path, "pipeline.stages=['pretrain','extract','probe']")
    run = run_pipeline(cfg, progress=False)
    assert (run / "probe" / "best.json").exists() and not (run / "results.json").exists()
    ckpt = (run / "ddpm" / "last.pt").stat().st_mtime_ns
    probe = (run / "probe" / "probe_grid.json").stat().st_mtime_ns
    run_pipeline(cfg_for(data, tmp_path, "heads.methods=['linear_best','cats']", "heads.seeds=[0]"), progress=False)
    assert (run / "ddpm" / "last.pt").stat().st_mtime_ns == ckpt
    assert (run / "probe" / "probe_grid.json").stat().st_mtime_ns == probe
    assert set(json.loads((run / "results.json").read_text())["methods"]) == {"linear_best", "cats"}
    # a finished seed is reused only with the same settings: more epochs retrain it, the rest stays
    head = (run / "heads" / "cats" / "seed0" / "model.pt").stat().st_mtime_ns
    run_pipeline(cfg_for(data, tmp_path, "heads.methods=['linear_best','cats']", "heads.seeds=[0]",
                         "heads.epochs=3"), progress=False)
    assert (run / "heads" / "cats" / "seed0" / "model.pt").stat().st_mtime_ns != head
    assert (run / "probe" / "probe_grid.json").stat().st_mtime_ns == probe
    row = json.loads((run / "heads" / "cats" / "seed0" / "metrics.json").read_text())
    assert [h["epoch"] for h in row["history"]] == [1, 2, 3]


def test_evaluate_reproduces_saved_metrics(finished_run, capsys):
    _, _, run = finished_run
    before = json.loads((run / "results.json").read_text())
    after = evaluate_run(run)
    for method in ("cats", "dcube", "resnet18"):
        for seed, row in before["methods"][method]["seeds"].items():
            assert after["methods"][method]["seeds"][seed]["auc"] == pytest.approx(row["auc"], abs=1e-6)
    assert main(["evaluate", str(run)]) == 0
    assert "cats" in capsys.readouterr().out


def test_three_classes(tmp_path):
    data = make_npz(tmp_path / "toy3.npz", n=(30, 12, 12), classes=3)
    cfg = cfg_for(data, tmp_path, "heads.methods=['linear_best','cats','dcube']", "heads.seeds=[0]")
    run = run_pipeline(cfg, progress=False)
    res = json.loads((run / "results.json").read_text())
    assert len(res["class_names"]) == 3
    assert len(res["methods"]["dcube"]["seeds"]["0"]["confusion"]) == 3


def test_synthetic_rebalancing_retrains_baselines(tmp_path):
    import numpy as np

    path = make_npz(tmp_path / "imb.npz", n=(30, 10, 10))
    d = dict(np.load(path))
    keep = np.r_[np.flatnonzero(d["train_labels"][:, 0] == 0), np.flatnonzero(d["train_labels"][:, 0] == 1)[:5]]
    d["train_images"], d["train_labels"] = d["train_images"][keep], d["train_labels"][keep]  # 15 vs 5
    np.savez(path, **d)
    cfg = cfg_for(path, tmp_path, "model.conditional=true", "heads.methods=['small_cnn']", "heads.seeds=[0]",
                  "heads.synthetic_balance=1.0", "heads.synthetic_methods=['small_cnn']", "heads.synthetic_steps=2",
                  "pipeline.stages=['pretrain','extract','probe','gaussianity','heads']")
    run = run_pipeline(cfg, progress=False)
    res = json.loads((run / "results.json").read_text())
    assert res["synthetic"]["synthetic_counts"] == {"0": 0, "1": 10}
    assert res["synthetic"]["n_synthetic"] == 10
    assert {"small_cnn", "small_cnn+synth"} <= set(res["methods"])
    assert len(res["methods"]["small_cnn+synth"]["summary"]["recall_per_class"]) == 2


def test_train_head_cli_on_a_frozen_checkpoint(finished_run, tmp_path, capsys):
    data, _, run = finished_run
    args = ["train-head", f"data.path={data}", f"run.out_dir={tmp_path}", "run.name=th", *TINY_UNET,
            "features.timesteps=[0,20]", *HEADS, "heads.methods=['linear_best','cats']", "heads.seeds=[0]",
            "--ckpt", str(run / "ddpm" / "last.pt")]
    assert main(args) == 0, capsys.readouterr().err
    res = json.loads((tmp_path / "th" / "results.json").read_text())
    assert set(res["methods"]) == {"linear_best", "cats"}
    assert not (tmp_path / "th" / "ddpm").exists()  # nothing was pretrained
    assert main(["train-head", f"data.path={data}", f"run.out_dir={tmp_path}", "run.name=th2"]) == 2
    assert "needs a diffusion checkpoint" in capsys.readouterr().err


@pytest.mark.slow  # a whole tiny pipeline run
def test_validation_threshold_is_saved_and_reapplied_by_evaluate(tmp_path):
    """heads.decision=val_threshold outside the budget harness: the threshold is stored with the model, the saved
    metrics are those of the tuned decision (scikit-learn on predictions.csv as the reference), and `evaluate`
    reapplies it."""
    from sklearn.metrics import balanced_accuracy_score

    from medfx.report.tables import read_predictions

    data = make_npz(tmp_path / "toy.npz")
    run = run_pipeline(cfg_for(data, tmp_path, "heads.methods=['small_cnn']", "heads.seeds=[0]",
                               "heads.decision=val_threshold"), progress=False)
    row = json.loads((run / "heads" / "small_cnn" / "seed0" / "metrics.json").read_text())
    assert row["decision"] == "val_threshold" and 0 < row["threshold"] < 1
    test = read_predictions(run / "heads" / "small_cnn" / "seed0" / "predictions.csv")
    assert balanced_accuracy_score(test["labels"], test["proba"].argmax(1)) == pytest.approx(row["bacc"])
    after = evaluate_run(run)["methods"]["small_cnn"]["seeds"]["0"]
    assert after["bacc"] == pytest.approx(row["bacc"]) and after["auc"] == pytest.approx(row["auc"])
    three = make_npz(tmp_path / "toy3.npz", n=(30, 12, 12), classes=3)
    with pytest.raises(Exception, match="binary"):
        run_pipeline(cfg_for(three, tmp_path / "b", "heads.decision=val_threshold"), progress=False)
