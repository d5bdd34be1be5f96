"""heads.methods=[..., fused]: late fusion of other label-budget methods' cells (forty-first session)."""

import json

import numpy as np
import pytest
from conftest import TINY_UNET, make_npz
from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score

from medfx.config import load_config
from medfx.report.tables import read_predictions, write_predictions
from medfx.utils.dataclass_io import ConfigError
from medfx.workflows.fuse import fuse_runs, parse_component
from medfx.workflows.label_budgets import fuse_predictions
from medfx.workflows.pipeline import run_pipeline


def test_fuse_predictions_averages_rows_in_order_and_checks_them(tmp_path):
    rng = np.random.default_rng(0)
    ids = {"val": ["v0", "v1"], "test": ["t0", "t1", "t2"]}
    split = ["val", "val", "test", "test", "test"]
    probs = [rng.dirichlet(np.ones(3), size=5) for _ in range(3)]
    files = [write_predictions(tmp_path / f"p{i}.csv", ids["val"] + ids["test"], split, [0, 1, 2, 0, 1], p,
                               ["a", "b", "c"]) for i, p in enumerate(probs)]
    got = fuse_predictions(files, ids)
    np.testing.assert_allclose(got["val"], np.mean(probs, axis=0)[:2], atol=1e-12)
    np.testing.assert_allclose(got["test"], np.mean(probs, axis=0)[2:], atol=1e-12)
    with pytest.raises(ValueError, match="p0.csv: its test rows"):
        fuse_predictions(files, {"test": ["t0", "t2", "t1"]})


def test_fused_config_rules():
    cfg = load_config(None, ["heads.label_budgets=[5]", "heads.methods=['linear_topk','small_cnn','fused']"])
    assert cfg.heads.fuse_methods == ("linear_topk", "small_cnn")
    with pytest.raises(ConfigError, match="not 'small_cnn'"):  # a component the run does not train
        load_config(None, ["heads.label_budgets=[5]", "heads.methods=['linear_topk','fused']"])
    for bad in ("['linear_topk']", "['small_cnn','small_cnn']", "['fused','small_cnn']"):
        with pytest.raises(ConfigError, match="at least two different"):
            load_config(None, ["heads.label_budgets=[5]", "heads.methods=['linear_topk','small_cnn','fused']",
                               f"heads.fuse_methods={bad}"])
    with pytest.raises(ConfigError, match="ablation"):  # label budgets only
        load_config(None, ["heads.methods=['linear_topk','small_cnn','fused']"])


def test_fused_cells_average_their_components_end_to_end(tmp_path):
    """A tiny budget run: the fused cell's probabilities are the mean of the linear_best, small_cnn and resnet18
    cells' (validation and test rows; three components, weights 1/3, as in the forty-second session's three-way
    fusion), its metrics those of the mean (scikit-learn as the reference), its parameters the sum; a second run
    reuses it."""
    data = make_npz(tmp_path / "toy.npz", n=(24, 12, 8))
    cfg = load_config(None, [f"data.path={data}", f"run.out_dir={tmp_path}", "run.name=fz", *TINY_UNET,
                             "train.steps=2", "train.batch_size=4", "features.timesteps=[0]",
                             "features.blocks=['mid']", "gaussianity.top_k=1", "heads.baseline_epochs=1",
                             "heads.seeds=[1]", "heads.patience=0", "heads.label_budgets=[3]",
                             "heads.val_min_per_class=3", "heads.budget_min_steps=2",
                             "heads.methods=['linear_best','small_cnn','resnet18','fused']",
                             "heads.fuse_methods=['linear_best','small_cnn','resnet18']",
                             "pipeline.stages=['pretrain','extract','probe','gaussianity','heads']"])
    run = run_pipeline(cfg, progress=False)
    cdir = run / "budgets" / "b3" / "seed1"
    comps = ("linear_best", "small_cnn", "resnet18")
    parts = [json.loads((cdir / m / "metrics.json").read_text()) for m in comps]
    cell = json.loads((cdir / "fused" / "metrics.json").read_text())
    for split in ("val", "test"):
        a, b, c, f = (read_predictions(cdir / m / "predictions.csv", split) for m in (*comps, "fused"))
        assert f["ids"] == a["ids"] == b["ids"] == c["ids"] and len(f["ids"]) > 0
        np.testing.assert_allclose(f["proba"], (a["proba"] + b["proba"] + c["proba"]) / 3, atol=1e-9)
    pred = f["proba"].argmax(1)
    assert cell["f1"] == pytest.approx(f1_score(f["labels"], pred, average="macro"))
    assert cell["auc"] == pytest.approx(roc_auc_score(f["labels"], f["proba"][:, 1]))
    assert cell["confusion"] == confusion_matrix(f["labels"], pred, labels=[0, 1]).tolist()
    assert cell["params"] == sum(x["params"] for x in parts)
    assert cell["input"] == list(comps) and cell["weights"] == pytest.approx([1 / 3] * 3)
    table = json.loads((run / "learning_curves.json").read_text())["table"]
    assert {r["method"] for r in table} == {*comps, "fused"}
    mtime = (cdir / "fused" / "metrics.json").stat().st_mtime_ns
    run_pipeline(cfg, progress=False)  # finished cells, the fused one included, are reused
    assert (cdir / "fused" / "metrics.json").stat().st_mtime_ns == mtime
    # `medfx fuse` across runs (here: three methods of this one run) gives the in-run fused cell bit for bit
    fuse_runs([parse_component(f"{m}@{run}") for m in comps], tmp_path / "x", name="fused",
              keep=[parse_component(f"resnet18@{run}")])
    xdir = tmp_path / "x" / "budgets" / "b3" / "seed1"
    assert (xdir / "fused" / "predictions.csv").read_text() == (cdir / "fused" / "predictions.csv").read_text()
    x = json.loads((xdir / "fused" / "metrics.json").read_text())
    assert {k: x[k] for k in ("f1", "auc", "bacc", "params")} == {k: cell[k] for k in ("f1", "auc", "bacc", "params")}
