"""Label budgets: nested stratified subsets, the validation rule, the `medfx run` budget loop, unlabelled pools."""

import json

import numpy as np
import pytest
from conftest import TINY_UNET, make_npz

from medfx.config import load_config
from medfx.data.budgets import nested_subsets, parse_budgets, validation_subset
from medfx.utils.dataclass_io import ConfigError
from medfx.workflows.pipeline import run_pipeline

# --------------------------------------------------------------------------------------------- library


def test_subsets_are_stratified_nested_and_seeded():
    y = np.array([0] * 40 + [1] * 13 + [2] * 30)
    rng = np.random.default_rng(1)
    y = y[rng.permutation(len(y))]
    sub = nested_subsets(y, [5, 10, 25, "all"], seed=3)
    for b in (5, 10, 25):
        counts = np.bincount(y[sub[b]], minlength=3)
        assert counts.tolist() == [min(b, n) for n in (40, 13, 30)], b  # a class smaller than b gives all
    assert set(sub[5]) <= set(sub[10]) <= set(sub[25]) <= set(sub["all"])
    assert sorted(sub["all"]) == list(range(len(y)))
    again = nested_subsets(y, [25, 5], seed=3)  # order of the request and other budgets do not matter
    assert np.array_equal(again[5], sub[5]) and np.array_equal(again[25], sub[25])
    other = nested_subsets(y, [5], seed=4)[5]
    assert not np.array_equal(other, sub[5])


def test_unlabelled_items_are_never_chosen_and_bad_budgets_fail():
    y = np.array([0, 1, -1, 0, 1, -1, 0, 1])
    assert -1 not in y[nested_subsets(y, ["all", 2])["all"]]
    assert parse_budgets(["all", 10, 5]) == [5, 10, "all"]
    for bad in ([0], ["some"], [5, 5], [True]):
        with pytest.raises(ValueError):
            parse_budgets(bad)


def test_validation_rule():
    y = np.array([0] * 50 + [1] * 20)
    v = validation_subset(y, 2, "budget", seed=0, min_per_class=5)
    assert np.bincount(y[v]).tolist() == [5, 5]  # at least 5 per class
    v = validation_subset(y, 10, "budget", seed=0, min_per_class=5)
    assert np.bincount(y[v]).tolist() == [10, 10]
    assert len(validation_subset(y, 10, "full")) == 70
    assert len(validation_subset(y, "all", "budget")) == 70
    with pytest.raises(ValueError):
        validation_subset(y, 10, "half")


def test_config_keys():
    cfg = load_config(None, ["heads.label_budgets=[10, all, 5]", "heads.val_budget=full"])
    assert cfg.heads.label_budgets == (5, 10, "all") and cfg.heads.val_budget == "full"
    with pytest.raises(ConfigError, match="label budget"):
        load_config(None, ["heads.label_budgets=[0]"])
    with pytest.raises(ConfigError, match="ablation"):
        load_config(None, ["heads.methods=['dcube_feats']"])
    cfg = load_config(None, ["pipeline.pretrain_data=['a.npz','b.npz']"])
    assert cfg.pipeline.pool_paths == ("a.npz", "b.npz")
    assert load_config(None, ["pipeline.pretrain_data=a.npz"]).pipeline.pool_paths == ("a.npz",)


def test_probe_ensemble_averages_one_probe_per_cell():
    """linear_topk's probabilities: one standardised L2 logistic regression per cell, each with its own C, fitted
    on the training rows and averaged (scikit-learn's pipeline as the independent reference); one group of several
    keys is one probe on their concatenation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from medfx.workflows.label_budgets import _probe_proba

    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    bank = {("mid", t): rng.normal(size=(60, 5)) + (t / 50) * y[:, None] for t in (0, 50, 100)}
    rows = np.arange(10, 60)  # rows of the bank in the budget's order: train, val, test
    split = np.array(["train"] * 20 + ["val"] * 10 + ["test"] * 20)
    keys, Cs = [("mid", 50), ("mid", 100), ("mid", 0)], [0.1, 1.0, 10.0]
    got = _probe_proba(bank, [[key] for key in keys], rows, split, y, Cs, seed=0, k=2)
    tr = rows[split == "train"]
    for name in ("val", "test"):
        ref = np.mean([make_pipeline(StandardScaler(), LogisticRegression(C=c, tol=1e-10, max_iter=10_000))
                       .fit(bank[key][tr], y[tr]).predict_proba(bank[key][rows[split == name]])
                       for key, c in zip(keys, Cs)], axis=0)
        np.testing.assert_allclose(got[name], ref, atol=1e-3)  # the probe's solver stops at sklearn's default tol
    one = _probe_proba(bank, [keys[:2]], rows, split, y, [1.0], seed=0, k=2)
    X = np.concatenate([bank[key] for key in keys[:2]], axis=1)
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000)).fit(X[tr], y[tr])
    np.testing.assert_allclose(one["test"], ref.predict_proba(X[rows[split == "test"]]), atol=1e-3)
    wrong = np.mean([make_pipeline(StandardScaler(), LogisticRegression(C=1.0)).fit(bank[key][tr], y[tr])
                     .predict_proba(bank[key][rows[split == "test"]]) for key in keys], axis=0)
    assert np.abs(got["test"] - wrong).max() > 1e-2  # one C for every cell would show


def test_probe_ensemble_of_certain_float32_probes_stays_a_probability(monkeypatch):
    """Five probes that are certain (probability 1.0 in float32, as probes on float32 features return) average to
    exactly 1, not 1 + 1.5e-8 (five float32 fifths), so the validation-threshold decision, which takes logits,
    stays finite."""
    import medfx.workflows.label_budgets as lb
    from medfx.metrics.threshold import apply_threshold

    class Certain:  # a fitted probe that is sure of class 1 (or of class 0 for the rows with feature < 0)
        classes_ = np.array([0, 1])

        def __init__(self, **kw):
            pass

        def fit(self, X, y):
            return self

        def predict_proba(self, X):
            one = (X[:, 0] >= 0).astype(np.float32)
            return np.stack([1 - one, one], axis=1)

    monkeypatch.setattr(lb, "LinearProbe", Certain)
    y = np.arange(20) % 2
    bank = {("mid", t): (2.0 * y[:, None] - 1).astype(np.float32) for t in range(5)}
    split = np.array(["train"] * 10 + ["val"] * 5 + ["test"] * 5)
    got = lb._probe_proba(bank, [[key] for key in bank], np.arange(20), split, y, [1.0] * 5, seed=0, k=2)
    for p in got.values():
        assert p.max() == 1.0 and p.min() == 0.0
    assert np.isfinite(apply_threshold(got["test"], 0.3)).all()


def test_probe_topk_config():
    assert load_config(None, ["heads.label_budgets=[5]", "heads.methods=['linear_topk']"]).heads.probe_topk == 5
    with pytest.raises(ConfigError, match="probe_topk"):
        load_config(None, ["heads.probe_topk=0"])
    with pytest.raises(ConfigError, match="ablation"):
        load_config(None, ["heads.methods=['linear_topk']"])


# --------------------------------------------------------------------------------------------- pipeline

METHODS = "['linear_best','linear_ks','cats','dcube','dcube_feats','dcube_cnn','small_cnn','backbone_ft']"


def _cfg(data, out, *extra):
    return load_config(None, [f"data.path={data}", f"run.out_dir={out}", "run.name=lb", *TINY_UNET,
                              "train.steps=2", "train.batch_size=4", "features.timesteps=[0,20]",
                              "features.blocks=['mid','up.0']", "gaussianity.top_k=1", "heads.epochs=1",
                              "heads.baseline_epochs=1", "heads.seeds=[0,1]", "heads.patience=0",
                              f"heads.methods={METHODS}", "heads.dcube_fuse=8", "heads.dcube_widen=0.25",
                              "heads.cats_width=16", "heads.cats_inputs=1", "heads.grid=2",
                              "heads.label_budgets=[2,all]", "heads.val_min_per_class=3",
                              "heads.budget_min_steps=2", "pipeline.stages=['pretrain','extract','probe',"
                              "'gaussianity','heads']", *extra])


@pytest.fixture(scope="module")
def budget_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lb")
    data = make_npz(tmp / "toy.npz", n=(24, 12, 8))
    run = run_pipeline(_cfg(data, tmp), progress=False)
    return data, tmp, run


@pytest.mark.slow  # a whole tiny pipeline run: ~15 s idle, longer on a loaded machine
def test_budget_run_subsets_and_test_split(budget_run):
    data, _, run = budget_run
    sub = json.loads((run / "budgets" / "subsets.json").read_text())
    z = np.load(data)
    assert len(sub["test_ids"]) == len(z["test_labels"])  # the test split is complete
    for seed in ("0", "1"):
        b2, ball = (sub["seeds"][seed][b] for b in ("2", "all"))
        assert len(b2["train_ids"]) == 4 and len(ball["train_ids"]) == 24
        assert set(b2["train_ids"]) <= set(ball["train_ids"])
        assert len(b2["val_ids"]) == 6 and len(ball["val_ids"]) == 12  # min 3 per class; full split for 'all'
        for b in (b2, ball):
            assert not set(b["train_ids"]) & set(sub["test_ids"]) and not set(b["val_ids"]) & set(sub["test_ids"])
    assert sub["seeds"]["0"]["2"]["train_ids"] != sub["seeds"]["1"]["2"]["train_ids"]
    assert "at least 3 per class" in sub["rule"]


@pytest.mark.slow  # a whole tiny pipeline run: ~15 s idle, longer on a loaded machine
def test_every_method_every_budget_and_seed_with_params(budget_run):
    run = budget_run[2]
    cells = json.loads((run / "learning_curves.json").read_text())["per_seed"]
    methods = set(METHODS.strip("[]").replace("'", "").split(","))
    got = {(c["budget"], c["seed"], c["method"]) for c in cells}
    assert got == {(b, s, m) for b in ("2", "all") for s in (0, 1) for m in methods}
    for c in cells:
        assert c["params"] > 0 and c["auc"] is not None
    params = {c["method"]: c["params"] for c in cells}
    assert params["dcube_feats"] < params["dcube"] and params["dcube_cnn"] < params["dcube"]
    assert (run / "learning_curves.png").stat().st_size > 1000
    assert (run / "learning_curves.csv").read_text().count("\n") == 1 + len(methods) * 2
    unc = json.loads((run / "budgets" / "b2" / "uncertainty.json").read_text())
    row = next(r for r in json.loads((run / "learning_curves.json").read_text())["table"]
               if r["budget"] == "2" and r["method"] == "cats")
    assert row["auc_ci_low"] == unc["ci"]["cats"]["auc"]["low"] and row["f1_ci_high"] == unc["ci"]["cats"]["f1"]["high"]
    res = json.loads((run / "results.json").read_text())
    assert res["label_budgets"]["budgets"] == ["2", "all"] and set(res["methods"]) == methods


@pytest.mark.slow  # a whole tiny pipeline run: ~15 s idle, longer on a loaded machine
def test_every_cell_writes_its_validation_and_test_predictions(budget_run):
    """predictions.csv of a cell holds exactly its validation subset and the complete test split, and its test
    rows reproduce the cell's metrics (scikit-learn on the file as the reference)."""
    from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score

    from medfx.report.tables import read_predictions

    _, _, run = budget_run
    sub = json.loads((run / "budgets" / "subsets.json").read_text())
    for method in set(METHODS.strip("[]").replace("'", "").split(",")):
        cdir = run / "budgets" / "b2" / "seed1" / method
        cell = json.loads((cdir / "metrics.json").read_text())
        test, val = read_predictions(cdir / "predictions.csv", "test"), read_predictions(cdir / "predictions.csv", "val")
        assert list(test["ids"]) == sub["test_ids"] and sorted(val["ids"]) == sorted(sub["seeds"]["1"]["2"]["val_ids"])
        assert roc_auc_score(test["labels"], test["proba"][:, 1]) == pytest.approx(cell["auc"], abs=1e-6), method
        pred = test["proba"].argmax(1)
        assert f1_score(test["labels"], pred, average="macro") == pytest.approx(cell["f1"], abs=1e-6), method
        assert cell["confusion"] == confusion_matrix(test["labels"], pred, labels=[0, 1]).tolist(), method
        assert cell["decision"] == "argmax" and cell.get("threshold") is None


@pytest.mark.slow  # reuses the module's tiny budget run
def test_topk_probe_ensemble_cells(budget_run):
    """linear_topk: the cells of the grid's top-k by validation AUC; k=1 reproduces linear_best's predictions
    exactly; k=2 averages the two cells' probes (each refitted on the training rows with the C the grid chose)."""
    from medfx.probes import ProbeGridResult
    from medfx.probes.linear import LinearProbe
    from medfx.report.tables import read_predictions

    data, tmp, run = budget_run
    few = ("heads.label_budgets=[2]", "heads.seeds=[1]", "heads.methods=['linear_best','linear_topk']")
    cdir = run / "budgets" / "b2" / "seed1"
    run_pipeline(_cfg(data, tmp, *few, "heads.probe_topk=1"), progress=False)
    best, top1 = (read_predictions(cdir / m / "predictions.csv", "test") for m in ("linear_best", "linear_topk"))
    np.testing.assert_array_equal(top1["proba"], best["proba"])
    run_pipeline(_cfg(data, tmp, *few, "heads.probe_topk=2"), progress=False)  # a changed k re-runs the cell
    cell = json.loads((cdir / "linear_topk" / "metrics.json").read_text())
    grid = ProbeGridResult.from_json(cdir / "probe_grid.json")
    keys = grid.top(2)
    assert [tuple(x) for x in cell["input"]] == keys and cell["C"] == [grid.row(*key)["C"] for key in keys]
    assert cell["params"] == sum(grid.row(*key)["dims"] + 1 for key in keys)
    from medfx.features.bank import FeatureBank

    bank = FeatureBank(run / "features")
    sub = json.loads((run / "budgets" / "subsets.json").read_text())
    pos = {i: n for n, i in enumerate(bank.ids)}
    tr = [pos[i] for i in sub["seeds"]["1"]["2"]["train_ids"]]
    te = [pos[i] for i in sub["test_ids"]]
    ref = np.mean([LinearProbe(C=grid.row(*key)["C"], random_state=0).fit(bank[key][tr], bank.labels[tr])
                   .predict_proba(bank[key][te]) for key in keys], axis=0)
    got = read_predictions(cdir / "linear_topk" / "predictions.csv", "test")
    np.testing.assert_allclose(got["proba"], ref, atol=1e-6)
    from sklearn.metrics import roc_auc_score

    assert cell["auc"] == pytest.approx(roc_auc_score(got["labels"], got["proba"][:, 1]), abs=1e-6)


@pytest.mark.slow  # a whole tiny pipeline run: ~15 s idle, longer on a loaded machine
def test_validation_threshold_decision(budget_run):
    """heads.decision=val_threshold: the threshold maximises validation balanced accuracy (brute force over the
    validation scores as the reference), is applied to test, and leaves AUC unchanged."""
    from sklearn.metrics import balanced_accuracy_score

    from medfx.report.tables import read_predictions

    data, tmp, run = budget_run
    methods = "heads.methods=['linear_best','small_cnn']"
    run_pipeline(_cfg(data, tmp, "heads.label_budgets=[2]", "heads.seeds=[3]", methods, "heads.decision=val_threshold"),
                 progress=False)  # seed 3: cells no other test reads
    for method in ("linear_best", "small_cnn"):
        cdir = run / "budgets" / "b2" / "seed3" / method
        cell = json.loads((cdir / "metrics.json").read_text())
        thr = cell["threshold"]
        assert cell["decision"] == "val_threshold" and 0 < thr < 1
        val, test = (read_predictions(cdir / "predictions.csv", sp) for sp in ("val", "test"))
        # the file holds shifted probabilities whose argmax is the decision; undo the shift to get the raw scores
        raw = {n: 1 / (1 + (1 - thr) / thr * (1 - d["proba"][:, 1]) / d["proba"][:, 1]) for n, d in
               (("val", val), ("test", test))}
        cuts = np.append(np.unique(raw["val"]), np.inf)  # every distinct decision on the validation scores
        best = max(balanced_accuracy_score(val["labels"], (raw["val"] >= c).astype(int)) for c in cuts)
        assert balanced_accuracy_score(val["labels"], val["proba"].argmax(1)) == pytest.approx(best)
        assert balanced_accuracy_score(test["labels"], test["proba"].argmax(1)) == pytest.approx(cell["bacc"])
    with pytest.raises(ConfigError, match="decision"):
        load_config(None, ["heads.decision=youden"])


@pytest.mark.slow  # a whole tiny pipeline run: ~15 s idle, longer on a loaded machine
def test_same_subset_for_every_method(budget_run, monkeypatch):
    """Every trained method of one (budget, seed) sees exactly the same training and validation rows."""
    import medfx.workflows.pipeline as pl

    data, tmp, run = budget_run
    seen = {}
    orig = pl.fit_classifier  # the one training core (fit_and_score) of heads, CV and budgets calls it

    def spy(model, tr, va, cfg, **kw):
        seen.setdefault((len(tr), cfg.seed), []).append((tr.labels.tolist(), va.labels.tolist(), type(model).__name__))
        return orig(model, tr, va, cfg, **kw)

    monkeypatch.setattr(pl, "fit_classifier", spy)
    run_pipeline(_cfg(data, tmp, "heads.label_budgets=[2]", "heads.seeds=[5]",
                      "heads.methods=['dcube','dcube_cnn','small_cnn']"), progress=False)
    (calls,) = seen.values()
    assert len(calls) == 3 and len({(tuple(a), tuple(b)) for a, b, _ in calls}) == 1


@pytest.mark.slow  # a whole tiny pipeline run: ~15 s idle, longer on a loaded machine
def test_rerun_resumes_finished_cells(budget_run):
    data, tmp, run = budget_run
    few = ("heads.methods=['linear_ks','dcube_feats','small_cnn']", "heads.label_budgets=[2]", "heads.seeds=[1]")
    d, g, p = (run / "budgets" / "b2" / "seed1" / m / "metrics.json" for m in ("dcube_feats", "small_cnn", "linear_ks"))
    stamps = [f.stat().st_mtime_ns for f in (d, g, p)]
    run_pipeline(_cfg(data, tmp, *few), progress=False)  # nothing changed: every cell is reused
    assert [f.stat().st_mtime_ns for f in (d, g, p)] == stamps
    run_pipeline(_cfg(data, tmp, *few, "heads.baseline_lr=0.01"), progress=False)  # a baseline setting changed
    assert g.stat().st_mtime_ns != stamps[1] and [f.stat().st_mtime_ns for f in (d, p)] == [stamps[0], stamps[2]]


@pytest.mark.slow  # a whole tiny pipeline run: ~15 s idle, longer on a loaded machine
def test_pool_is_used_whole_and_drops_target_duplicates(tmp_path, caplog):
    target = make_npz(tmp_path / "target.npz", n=(24, 8, 8))
    other = make_npz(tmp_path / "other.npz", n=(10, 6, 4), seed=3)
    z = dict(np.load(other))
    z["train_images"][:2] = np.load(target)["test_images"][:2]  # two leaked target test images
    np.savez(tmp_path / "other.npz", **z)
    cfg = _cfg(target, tmp_path, "pipeline.stages=['pretrain']",
               f"pipeline.pretrain_data=['{other}','{target}']")
    run = run_pipeline(cfg, progress=False)
    info = json.loads((run / "stages" / "pretrain.json").read_text())["pool"]
    n_all = 10 + 6 + 4 + 24 + 8 + 8  # every split of both datasets, nothing carved off
    assert info["n_images"] == n_all
    assert info["overlap_with_target_val_test"] >= 2 + 16  # the leaked pair and the target's own val + test
    assert info["n_used"] == n_all - info["overlap_with_target_val_test"]
    import torch

    ck = torch.load(run / "ddpm" / "last.pt", map_location="cpu", weights_only=False)
    assert ck["extra"]["n_images"] == info["n_used"]
    assert "pool_warn_below" in caplog.text or "unlabelled images" in caplog.text
    with pytest.raises(ValueError, match="duplicate"):
        run_pipeline(_cfg(target, tmp_path / "b", "pipeline.stages=['pretrain']", "pipeline.pool_overlap=error",
                          f"pipeline.pretrain_data={other}"), progress=False)


@pytest.mark.slow  # a whole tiny 3D pipeline run
def test_budget_run_in_3d(tmp_path):
    """The harness on volumes (AdrenalMNIST3D's setting, 16^3 here): every method x budget cell with its
    predictions, nested subsets, flips along the left-right axis and +-2 voxel shifts for the image CNNs."""
    data = make_npz(tmp_path / "toy3d.npz", spatial=(16, 16, 16), n=(12, 8, 8))
    methods = "['linear_best','linear_ks','dcube_feats','dcube_cnn','small_cnn','backbone_ft']"
    run = run_pipeline(_cfg(data, tmp_path, f"heads.methods={methods}", "heads.seeds=[0]", "heads.grid=1",
                            "train.batch_size=2"), progress=False)
    cells = json.loads((run / "learning_curves.json").read_text())["per_seed"]
    assert {(c["budget"], c["method"]) for c in cells} == {(b, m) for b in ("2", "all")
                                                           for m in methods.strip("[]").replace("'", "").split(",")}
    for c in cells:
        assert c["params"] > 0 and c["auc"] is not None
        assert (run / "budgets" / f"b{c['budget']}" / "seed0" / c["method"] / "predictions.csv").exists()
    cnn = json.loads((run / "budgets" / "b2" / "seed0" / "small_cnn" / "metrics.json").read_text())
    assert cnn["augment"] == {"flip": True, "shift": 2}
    sub = json.loads((run / "budgets" / "subsets.json").read_text())["seeds"]["0"]
    assert set(sub["2"]["train_ids"]) < set(sub["all"]["train_ids"]) and len(sub["2"]["train_ids"]) == 4


@pytest.mark.slow  # reuses the module's tiny budget run
def test_every_budget_gets_intervals_and_paired_comparisons(budget_run):
    """``budgets/b<B>/uncertainty.json``: each method's AUC estimate is the seed mean of its cells' own test AUC
    (computed independently by ``classification_metrics`` when the cell was scored); paired differences are
    against ResNet-18, which this tiny run does not train (so there are none)."""
    import ast

    data, tmp, _ = budget_run
    run = run_pipeline(_cfg(data, tmp), progress=False)  # other tests re-ran the module's run with fewer methods:
    # re-running with all of them reuses every finished cell and rewrites the per-budget intervals
    methods = ast.literal_eval(METHODS)
    for b in ("2", "all"):
        unc = json.loads((run / "budgets" / f"b{b}" / "uncertainty.json").read_text())
        assert unc["reference"] == "resnet18" and unc["n_test"] == 8
        assert set(unc["ci"]) == set(methods)
        for m in methods:
            cells = [json.loads((run / "budgets" / f"b{b}" / f"seed{s}" / m / "metrics.json").read_text())
                     for s in (0, 1)]
            ci = unc["ci"][m]["auc"]
            assert ci["estimate"] == pytest.approx(np.mean([c["auc"] for c in cells]), abs=1e-9)
            assert ci["low"] <= ci["estimate"] <= ci["high"]
        assert unc["paired"] == {}
        assert (run / "budgets" / f"b{b}" / "summary.csv").is_file()


@pytest.mark.slow  # a tiny budget run with ResNet-18: ~15 s idle
def test_budget_paired_comparison_against_resnet18(tmp_path):
    data = make_npz(tmp_path / "toy.npz", n=(24, 12, 8))
    run = run_pipeline(_cfg(data, tmp_path, "heads.methods=['linear_best','small_cnn','resnet18']",
                            "heads.label_budgets=[2]", "heads.seeds=[0]"), progress=False)
    unc = json.loads((run / "budgets" / "b2" / "uncertainty.json").read_text())
    assert set(unc["paired"]) == {"linear_best", "small_cnn"}
    for m in unc["paired"]:  # the paired difference's point estimate is the difference of the two estimates
        d = unc["paired"][m]["auc"]
        assert d["diff"] == pytest.approx(unc["ci"][m]["auc"]["estimate"] - unc["ci"]["resnet18"]["auc"]["estimate"])
        assert d["low"] <= d["diff"] <= d["high"]


@pytest.mark.slow  # reuses the module's tiny budget run
def test_budget_cells_store_histories_and_log_them_to_tensorboard(budget_run):
    """Every trained cell keeps its per-epoch history: with heads.budget_min_steps=2, one optimisation step per
    epoch (the budget's whole training subset fits one batch) and patience 0 (no early stop), every trained cell
    runs exactly 2 epochs. TensorBoard (read back with its own reader) holds each cell's curve and test metrics
    under budgets/b<B>/<method>/seed<s>, and no heads/ part repeats the largest budget."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from medfx.workflows.label_budgets import PROBES

    run = budget_run[2]
    cells = sorted(run.glob("budgets/b*/seed*/*/metrics.json"))
    assert len(cells) >= 2 * 2 * 7
    for f in cells:
        cell = json.loads(f.read_text())
        method, seed, budget = f.parent.name, f.parent.parent.name, f.parent.parent.parent.name
        acc = EventAccumulator(str(run / "tb" / "budgets" / budget / method / seed), size_guidance={"scalars": 0})
        acc.Reload()
        assert [e.value for e in acc.Scalars("test/auc")] == pytest.approx([cell["auc"]]), f
        if method in PROBES:
            assert "history" not in cell
            continue
        assert [h["epoch"] for h in cell["history"]] == [1, 2] and cell["epoch_cap"] == 2, f
        assert [e.step for e in acc.Scalars("val/auc")] == [1, 2]
        assert [e.value for e in acc.Scalars("val/auc")] == pytest.approx([h["val_auc"] for h in cell["history"]])
    assert not (run / "tb" / "heads").exists()


@pytest.mark.slow  # a tiny budget run with ResNet-18 (reuses the cells of the test above when it ran first)
def test_budget_console_table_and_report(tmp_path, caplog):
    """The run's final console table has one row per budget x method whose interval and paired difference are
    those of the budget's summary.csv; the report shows that budget's table, figures and curves."""
    import csv
    import logging

    from medfx.report.html import build_context

    caplog.set_level(logging.INFO, logger="medfx")
    data = make_npz(tmp_path / "toy.npz", n=(24, 12, 8))
    run = run_pipeline(_cfg(data, tmp_path, "heads.methods=['linear_best','small_cnn','resnet18']",
                            "heads.label_budgets=[2]", "heads.seeds=[0]",
                            "pipeline.stages=['pretrain','extract','gaussianity','heads','report']"), progress=False)
    for m in ("small_cnn", "resnet18"):  # one result line per trained cell, as in the heads stage
        cell = json.loads((run / "budgets" / "b2" / "seed0" / m / "metrics.json").read_text())
        line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith(f"budget 2 seed 0 {m} ["))
        assert f"test auc {cell['auc']:.3f}, bacc {cell['bacc']:.3f}; best epoch {cell['best_epoch']}/" in line
    table = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("label-budget results"))
    body = table.splitlines()[3:]
    with (run / "budgets" / "b2" / "summary.csv").open() as fh:
        rows = {(r["method"], r["metric"]): r for r in csv.DictReader(fh)}
    assert len(body) == 3
    for line, m in zip(body, ("linear_best", "small_cnn", "resnet18")):
        r = rows[(m, "auc")]
        assert line.startswith("2 ") and f"[{float(r['ci_low']):.3f}, {float(r['ci_high']):.3f}]" in line
        assert ("(reference)" in line) if m == "resnet18" else \
            f"{float(r['diff']):+.3f} [{float(r['diff_low']):+.3f}, {float(r['diff_high']):+.3f}]" in line
    with (run / "results.csv").open() as fh:  # tidy: one row per budget x method x seed x metric
        tidy = {(r["budget"], r["method"], r["seed"], r["metric"]): r for r in csv.DictReader(fh)}
    for m in ("linear_best", "small_cnn", "resnet18"):
        cell = json.loads((run / "budgets" / "b2" / "seed0" / m / "metrics.json").read_text())
        for metric in ("auc", "bacc", "f1", "recall_class_1"):
            value = cell["recall_per_class"][1] if metric == "recall_class_1" else cell[metric]
            assert float(tidy[("2", m, "0", metric)]["value"]) == pytest.approx(value), (m, metric)
        assert tidy[("2", m, "0", "auc")]["n_test"] == "8"
    ctx = build_context(run)
    (t,) = ctx["budgets"]["tables"]
    assert t["has_paired"] and [g["budget"] for g in ctx["figure_groups"]] == ["2"]
    assert [f["method"] for f in ctx["curves"]] == ["small_cnn", "resnet18"] and len(ctx["confusion"]) == 3
    assert (run / "report.html").stat().st_size > 50_000


def test_learning_curve_table_carries_each_budgets_interval(tmp_path):
    """The curve table's 95 % interval columns are the budget's uncertainty.json values (None where a budget or
    method has none), and the figure draws with and without them."""
    from medfx.workflows.label_budgets import learning_curve_table, plot_learning_curves

    rng = np.random.default_rng(0)
    budgets, seeds, methods = [2, "all"], [0, 1], ["cats", "resnet18"]
    cells = {(b, s, m): {"f1": rng.random(), "bacc": rng.random(), "auc": rng.random(), "acc": rng.random(),
                         "params": 10} for b in budgets for s in seeds for m in methods}
    plan = {s: {b: {"train": np.arange(4), "val": np.arange(2)} for b in budgets} for s in seeds}
    uncs = {2: {"ci": {"cats": {"auc": {"low": 0.1, "high": 0.9}, "f1": {"low": 0.2, "high": 0.3}}}}, "all": None}
    table = learning_curve_table(cells, budgets, seeds, methods, {2: 2.0, "all": 10.0}, plan, uncs)
    row = {(r["budget"], r["method"]): r for r in table}
    assert (row["2", "cats"]["auc_ci_low"], row["2", "cats"]["auc_ci_high"]) == (0.1, 0.9)
    assert (row["2", "cats"]["f1_ci_low"], row["2", "cats"]["bacc_ci_low"]) == (0.2, None)
    assert row["2", "resnet18"]["auc_ci_low"] is None and row["all", "cats"]["auc_ci_high"] is None
    mean = np.mean([cells[(2, s, "cats")]["auc"] for s in seeds])
    assert row["2", "cats"]["auc_mean"] == pytest.approx(mean)
    assert plot_learning_curves(table, tmp_path / "ci.png").stat().st_size > 1000
    bare = learning_curve_table(cells, budgets, seeds, methods, {2: 2.0, "all": 10.0}, plan)
    assert all(r["auc_ci_low"] is None for r in bare)
    assert plot_learning_curves(bare, tmp_path / "sd.png").stat().st_size > 1000


def test_every_known_method_has_its_own_plot_colour():
    from matplotlib.colors import to_rgb

    from medfx.workflows.label_budgets import LABELS, method_color

    rgb = [to_rgb(method_color(m)) for m in LABELS]
    assert len(set(rgb)) == len(LABELS)
    assert method_color("linear_best") == "C0" and method_color("unknown", 3) == "C3"
