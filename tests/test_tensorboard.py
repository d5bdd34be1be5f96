"""TensorBoard as a run goes: the DDPM's scalars and samples, the head curves epoch by epoch, and no step logged
twice when a run is resumed. Every check reads the event files back with TensorBoard's own reader."""

import json

import pytest
from conftest import TINY_UNET, make_npz

from medfx.config import load_config
from medfx.workflows.tracking import LiveTensorBoard, export_tensorboard
from medfx.workflows.train import pretrain

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def read(path):
    acc = EventAccumulator(str(path), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def steps(acc, tag):
    return [e.step for e in acc.Scalars(tag)]


def values(acc, tag):
    return [e.value for e in acc.Scalars(tag)]


@pytest.mark.parametrize("spatial", [(16, 16), (8, 8, 8)])
def test_ddpm_logs_live_and_a_resumed_run_logs_each_step_once(tmp_path, spatial):
    data = make_npz(tmp_path / "toy.npz", spatial=spatial, n=(8, 4, 4))
    cfg = load_config(None, [f"data.path={data}", f"run.out_dir={tmp_path}", "run.name=r", *TINY_UNET,
                             f"model.unet.spatial_dims={len(spatial)}", "train.steps=6", "train.batch_size=2",
                             "train.ckpt_every=2", "train.log_every=1", "train.sample_every=3"])
    part = pretrain(cfg, stop_after=5)  # "killed" after step 5; the last checkpoint is at step 4
    first = read(part.run_dir / "tb")
    assert steps(first, "train/loss") == [1, 2, 3, 4, 5]  # written as it trained, before the run ended
    assert [e.step for e in first.Images("samples")] == [3]
    pretrain(cfg)  # resumes from step 4: steps 5 and 6 again
    acc = read(part.run_dir / "tb")
    rows = [json.loads(x) for x in (part.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps(acc, "train/loss") == [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert values(acc, "train/loss") == pytest.approx([r["loss"] for r in rows])
    assert [e.step for e in acc.Images("samples")] == [3, 6]


def test_head_curves_are_written_per_epoch_and_an_interrupted_seed_is_not_repeated(tmp_path):
    hist = [{"epoch": e, "train_total": 1.0 / e, "val_auc": 0.5 + 0.1 * e, "val_loss": 0.9 - 0.1 * e}
            for e in (1, 2, 3)]
    row = {"auc": 0.8, "bacc": 0.7, "best_epoch": 3, "epoch_cap": 3, "history": hist}
    tb = LiveTensorBoard(tmp_path)
    on_epoch = tb.head_curves("cats", 1)
    on_epoch(hist[0])
    on_epoch(hist[1])  # interrupted here: never finished
    part = tmp_path / "tb" / "heads" / "cats" / "seed1"
    assert steps(read(part), "val/auc") == [1, 2]  # visible while training runs
    tb.close()

    tb = LiveTensorBoard(tmp_path)  # the resumed run retrains seed 1 from scratch
    on_epoch = tb.head_curves("cats", 1)
    for h in hist:
        on_epoch(h)
    tb.head_result("cats", 1, row, {"method": "cats", "seed": "1", "heads.lr": 1e-3})
    acc = read(part)
    assert steps(acc, "val/auc") == [1, 2, 3] and values(acc, "val/auc") == pytest.approx([0.6, 0.7, 0.8])
    assert values(acc, "train/total") == pytest.approx([1.0, 0.5, 1 / 3])
    assert steps(acc, "test/auc") == [3] and values(acc, "test/auc") == pytest.approx([0.8])
    assert acc.PluginTagToContent("hparams")  # an HParams session (experiment, start and end summaries)

    LiveTensorBoard(tmp_path).head_result("cats", 1, row)  # a third session reuses the seed: nothing added
    assert steps(read(part), "val/auc") == [1, 2, 3]
    assert json.loads((tmp_path / "tb" / "logged.json").read_text()) == ["heads/cats/seed1"]


def test_export_fills_in_a_run_logged_without_tensorboard(tmp_path):
    hist = [{"epoch": 1, "train_total": 0.7, "val_auc": 0.6}, {"epoch": 2, "train_total": 0.5, "val_auc": 0.7}]
    results = {"methods": {
        "small_cnn": {"seeds": {"0": {"auc": 0.75, "best_epoch": 2, "history": hist}}, "params": 10},
        "linear_best": {"seeds": {"-": {"auc": 0.7, "bacc": 0.6}}, "input": ["mid", 10]}}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "probe_grid.json").write_text(json.dumps({"table": [
        {"block": "mid", "t": 0, "val_auc": 0.6, "auc_mean": 0.65}, {"block": "mid", "t": 10, "val_auc": 0.7}]}))
    for _ in range(2):  # the second export finds everything logged
        export_tensorboard(tmp_path)
    acc = read(tmp_path / "tb" / "heads" / "small_cnn" / "seed0")
    assert steps(acc, "val/auc") == [1, 2] and values(acc, "test/auc") == pytest.approx([0.75])
    assert values(read(tmp_path / "tb" / "heads" / "linear_best"), "test/auc") == pytest.approx([0.7])
    probe = read(tmp_path / "tb" / "probe")
    assert steps(probe, "probe/val_auc/mid") == [0, 10] and values(probe, "probe/test_auc/mid") == pytest.approx([0.65])


@pytest.mark.slow
def test_resumed_pipeline_keeps_one_curve_per_seed(tmp_path, monkeypatch):
    import medfx.workflows.pipeline as pipeline_mod
    from medfx.workflows.pipeline import run_pipeline

    data = make_npz(tmp_path / "toy.npz")
    cfg = load_config(None, [f"data.path={data}", f"run.out_dir={tmp_path}", "run.name=r", *TINY_UNET,
                             "train.steps=2", "train.batch_size=4", "features.timesteps=[0,20]", "gaussianity.top_k=2",
                             "heads.epochs=3", "heads.seeds=[0,1]", "heads.batch_size=8", "heads.patience=0",
                             "heads.methods=[linear_best,cats]", "heads.cats_width=16", "heads.cats_inputs=2",
                             "heads.grid=2", "pipeline.stages=[pretrain,extract,probe,gaussianity,heads]"])
    real = pipeline_mod.fit_classifier  # the heads stage's training core calls it

    def killed_in_seed1(model, tr, va, tcfg, on_epoch=None, **kw):
        def cb(record):
            on_epoch(record)
            if tcfg.seed == 1 and record["epoch"] == 2:
                raise KeyboardInterrupt  # the run is killed after seed 1's second epoch was logged
        return real(model, tr, va, tcfg, on_epoch=cb, **kw)

    monkeypatch.setattr(pipeline_mod, "fit_classifier", killed_in_seed1)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(cfg, progress=False)
    run = tmp_path / "r"
    assert steps(read(run / "tb" / "heads" / "cats" / "seed1"), "val/auc") == [1, 2]
    monkeypatch.setattr(pipeline_mod, "fit_classifier", real)
    run_pipeline(cfg, progress=False)  # resumes: every stage and seed 0 reused, seed 1 trained again
    res = json.loads((run / "results.json").read_text())["methods"]["cats"]["seeds"]
    for seed in ("0", "1"):
        acc = read(run / "tb" / "heads" / "cats" / f"seed{seed}")
        assert steps(acc, "val/auc") == [1, 2, 3], seed
        assert values(acc, "val/auc") == pytest.approx([h["val_auc"] for h in res[seed]["history"]])
        assert values(acc, "test/auc") == pytest.approx([res[seed]["auc"]])
    for part in ("probe", "gaussianity", "heads/linear_best"):
        acc = read(run / "tb" / part)
        assert all(len(set(steps(acc, t))) == len(steps(acc, t)) for t in acc.Tags()["scalars"]), part
        assert all(len(acc.Images(t)) == 1 for t in acc.Tags()["images"]), part
    ddpm = read(run / "ddpm" / "tb")
    logged = [json.loads(x)["step"] for x in (run / "ddpm" / "metrics.jsonl").read_text().splitlines()]
    assert steps(ddpm, "train/loss") == logged == [2] and len(ddpm.Images("samples")) == 1


def test_tensorboard_off_writes_no_event_files(tmp_path):
    """``pipeline.tensorboard=false``: neither the DDPM stage nor the pipeline writes a TensorBoard event file."""
    from medfx.workflows.pipeline import run_pipeline

    data = make_npz(tmp_path / "toy.npz")
    cfg = load_config(None, [f"data.path={data}", f"run.out_dir={tmp_path}", "run.name=off", *TINY_UNET,
                             "train.steps=2", "train.batch_size=4", "features.timesteps=[0,20]", "gaussianity.top_k=2",
                             "heads.epochs=1", "heads.seeds=[0]", "heads.batch_size=8", "heads.methods=[linear_best,cats]",
                             "heads.cats_width=16", "heads.cats_inputs=2", "heads.grid=2", "pipeline.tensorboard=false",
                             "pipeline.stages=[pretrain,extract,probe,gaussianity,heads]"])
    run = run_pipeline(cfg, progress=False)
    assert (run / "results.json").is_file()  # the run itself finished
    assert not list(run.rglob("events.out.tfevents*"))


def test_export_of_a_label_budget_run_logs_every_cell_once(tmp_path):
    """A budget run's cells (budgets/b<B>/seed<s>/<method>/metrics.json) become tb/budgets/b<B>/<method>/seed<s>
    with their curves and test metrics; results.json's copy of the largest budget is not logged a second time."""
    from medfx.utils.io import write_json

    hist = [{"epoch": 1, "train_total": 0.7, "val_auc": 0.6}, {"epoch": 2, "train_total": 0.5, "val_auc": 0.65}]
    cells = {("2", "0", "small_cnn"): {"auc": 0.61, "best_epoch": 2, "epoch_cap": 2, "params": 7, "history": hist},
             ("all", "0", "small_cnn"): {"auc": 0.71, "best_epoch": 1, "epoch_cap": 2, "history": hist[:1]},
             ("all", "0", "linear_best"): {"auc": 0.66, "input": ["mid", 10]}}
    for (b, s, m), row in cells.items():
        write_json(tmp_path / "budgets" / f"b{b}" / f"seed{s}" / m / "metrics.json", row)
    write_json(tmp_path / "results.json", {"label_budgets": {"budgets": ["2", "all"]}, "methods": {
        m: {"seeds": {s: row}} for (b, s, m), row in cells.items() if b == "all"}})
    for _ in range(2):  # the second export finds everything logged
        export_tensorboard(tmp_path)
    for (b, s, m), row in cells.items():
        acc = read(tmp_path / "tb" / "budgets" / f"b{b}" / m / f"seed{s}")
        assert values(acc, "test/auc") == pytest.approx([row["auc"]])
        assert values(acc, "val/auc") == pytest.approx([h["val_auc"] for h in row.get("history", [])]) \
            if "history" in row else "val/auc" not in acc.Tags()["scalars"]
        assert acc.PluginTagToContent("hparams")
    assert not (tmp_path / "tb" / "heads").exists()
    assert sorted(json.loads((tmp_path / "tb" / "logged.json").read_text())) == sorted(
        f"budgets/b{b}/{m}/seed{s}" for b, s, m in cells)


def test_mlflow_logs_every_label_budget_cell(tmp_path, monkeypatch):
    """MLflow (local file store) of a budget run: per budget and method the seed mean of the learning-curve table,
    every cell's test metrics and curve, each budget's uncertainty.json / summary.csv and every cell's predictions."""
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient
    from test_report_budgets import BUDGETS, METHODS, SEEDS, _fake_budget_run

    from medfx.workflows.tracking import export_mlflow

    run = tmp_path / "run"
    _fake_budget_run(run)
    uri = (tmp_path / "mlruns").as_uri()
    run_id = export_mlflow(run, uri, "medfx-test")
    client = MlflowClient(tracking_uri=uri)
    metrics = client.get_run(run_id).data.metrics
    table = json.loads((run / "results.json").read_text())["label_budgets"]["table"]
    for r in table:
        assert metrics[f"b{r['budget']}.{r['method']}.auc"] == pytest.approx(r["auc_mean"])
    cell = json.loads((run / "budgets" / "b5" / "seed1" / "small_cnn" / "metrics.json").read_text())
    assert metrics["b5.small_cnn.seed1.auc"] == pytest.approx(cell["auc"])
    hist = client.get_metric_history(run_id, "b5.small_cnn.seed1.val_auc")
    hist = sorted((m.step, m.value) for m in hist)
    assert [s for s, _ in hist] == [h["epoch"] for h in cell["history"]]
    assert [v for _, v in hist] == pytest.approx([h["val_auc"] for h in cell["history"]])
    assert {a.path for a in client.list_artifacts(run_id, "budgets/b2")} == {"budgets/b2/summary.csv",
                                                                            "budgets/b2/uncertainty.json"}
    preds = {a.path for b in BUDGETS for m in METHODS for a in client.list_artifacts(run_id, f"predictions/b{b}/{m}")}
    assert preds == {f"predictions/b{b}/{m}/seed{s}" for b in BUDGETS for m in METHODS for s in SEEDS}
