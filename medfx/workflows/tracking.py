"""Experiment tracking of a pipeline run: TensorBoard as the run goes, MLflow at the end.

TensorBoard (``pipeline.tensorboard``, on by default; ``tensorboard --logdir <run>``). Each part of the run is
its own TensorBoard *run* (a sub-folder), so the same tags of different methods and seeds overlay in one chart:

* ``<run>/ddpm/tb``: the DDPM's training scalars (``train/loss``, ...) and sample grids (``samples``), written
  while it trains (:class:`DDPMTensorBoard`, hooks into the training loop). A resumed DDPM purges the steps
  after its checkpoint, which it then logs again (TensorBoard's ``purge_step``).
* ``<run>/tb/probe``: the probe-grid heatmaps and one scalar per (block, t) cell (``probe/val_auc/<block>``
  against t), written when the probe stage ends; ``<run>/tb/gaussianity``: the KS map and the KS p-value per
  cell (``gaussianity/ks_pvalue/<block>`` against t).
* ``<run>/tb/heads/<method>/seed<k>``: the training and validation curves (``train/<term>``, ``val/<metric>``
  against the epoch) as each epoch ends, then the test metrics (``test/<metric>``, at the selected epoch) and an
  HParams session (the method's and run's settings against its test metrics, TensorBoard's HParams plugin).
  The linear probe's row is ``heads/linear_best``; cross-validation folds are ``heads/<method>/fold<f>``.
* ``<run>/tb/budgets/b<B>/<method>/seed<k>``: the same per label-budget cell (``heads.label_budgets``): curves of
  the trained methods epoch by epoch, test metrics and HParams (with ``label_budget``) of every cell.

``<run>/tb/logged.json`` lists the parts that are complete. A part is written whole, into an emptied folder, so
a resumed run neither repeats a step nor keeps the curve of a seed interrupted mid-training (it is retrained, and
its folder rewritten); a part finished in an earlier session is left as it is. :func:`export_tensorboard` fills
in the parts a run directory holds but ``tb`` lacks (a run made with ``pipeline.tensorboard=false``).

MLflow (``pipeline.mlflow=true``, off by default, needs ``pip install medfx[mlflow]``): one MLflow run per medfx
run (its id and a fingerprint of ``results.json`` + ``config.yaml`` are kept in ``<run>/mlflow.json``: re-running an
unchanged run logs nothing twice; a changed one gets a new MLflow run tagged with the previous one) holding
the flattened config as params, the test metrics (``<method>.<metric>``: seed means; ``<method>.seed<k>.<metric>``)
and the head curves as step metrics, and the report, tables, predictions and config as artifacts; logged when
the run ends. A label-budget run adds ``b<B>.<method>.<metric>`` (seed means), every cell's
``b<B>.<method>.seed<k>.<metric>`` and curve, and as artifacts the learning curves, each budget's
``uncertainty.json`` / ``summary.csv`` (``budgets/b<B>``) and each cell's ``predictions.csv``.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from ..train.loop import TrainHooks
from ..utils.io import write_json

logger = logging.getLogger("medfx")


def _flat(d, prefix: str = "") -> dict[str, str | float | int | bool]:
    out: dict = {}
    for k, v in (d or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        elif isinstance(v, (int, float, bool, str)) or v is None:
            out[key] = "None" if v is None else v
        else:
            out[key] = str(v)
    return out


def _config(run_dir: Path) -> dict:
    import yaml

    f = run_dir / "config.yaml"
    return (yaml.safe_load(f.read_text()) or {}) if f.is_file() else {}


def _results(run_dir: Path) -> dict:
    f = run_dir / "results.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def _png(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    img = mpimg.imread(str(path))
    if img.ndim == 2:
        img = img[..., None]
    return img[..., :3] if img.shape[-1] >= 3 else img


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


# -- TensorBoard -------------------------------------------------------------------------------------------
HPARAM_KEYS = ("data.path", "data.size", "model.arch", "train.steps", "train.lr", "train.batch_size",
               "diffusion.num_train_timesteps", "features.pool", "probe.mode", "heads.lr", "heads.batch_size",
               "heads.select_metric", "gaussianity.alpha")
TEST_METRICS = ("acc", "bacc", "precision", "recall", "f1", "auc")


def _writer(path: Path, purge_step: int | None = None):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(path), purge_step=purge_step)


def _epoch_scalars(w, record: dict) -> None:
    """One history row: ``train_<term>`` -> ``train/<term>``, ``val_<metric>`` -> ``val/<metric>``."""
    for k, v in record.items():
        if k != "epoch" and _finite(v):
            split, _, name = k.partition("_")
            w.add_scalar(f"{split}/{name}" if name else k, v, int(record["epoch"]))


class DDPMTensorBoard(TrainHooks):
    """``<run>/tb`` of a DDPM run, written while it trains: ``train/<key>`` scalars and the ``samples`` grids."""

    def __init__(self):
        self.w = None

    def start(self, run_dir: Path, step: int) -> None:
        # a resumed run logs again from step + 1: TensorBoard drops the earlier session's events from there on
        self.w = _writer(Path(run_dir) / "tb", purge_step=step + 1 if step else None)

    def log(self, step: int, row: dict) -> None:
        for k, v in row.items():
            if k != "step" and _finite(v):
                self.w.add_scalar(f"train/{k}", v, step)
        self.w.flush()

    def samples(self, step: int, path: Path) -> None:
        self.w.add_image("samples", _png(path), step, dataformats="HWC")
        self.w.flush()

    def close(self) -> None:
        if self.w is not None:
            self.w.close()
            self.w = None


class LiveTensorBoard:
    """``<run>/tb`` of a pipeline run, part by part as the stages end (see the module docstring). A failure to
    write is logged once and turns this logger off; it never stops the run."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.root = self.run_dir / "tb"
        f = self.root / "logged.json"
        self.logged = set(json.loads(f.read_text())) if f.is_file() else set()
        self.open: dict[str, object] = {}
        self.broken = False

    # -- parts
    def _begin(self, part: str):
        """A writer on an emptied ``tb/<part>`` (events of an unfinished earlier attempt are dropped)."""
        self._close(part)
        self.logged.discard(part)
        self._save()
        shutil.rmtree(self.root / part, ignore_errors=True)
        self.open[part] = _writer(self.root / part)
        return self.open[part]

    def _finish(self, part: str) -> None:
        self._close(part)
        self.logged.add(part)
        self._save()

    def _close(self, part: str) -> None:
        w = self.open.pop(part, None)
        if w is not None:
            w.close()

    def _save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(self.root / "logged.json", sorted(self.logged))

    def _safe(self, fn, *args):
        if self.broken:
            return None
        try:
            return fn(*args)
        except Exception as e:  # noqa: BLE001 - tracking is an extra; every result is on disk
            self.broken = True
            logger.warning("TensorBoard logging stopped (the run goes on): %s", e)
            return None

    def close(self) -> None:
        for part in list(self.open):
            self._close(part)

    # -- stages
    def probe(self) -> None:
        """``tb/probe`` from ``<run>/probe`` (once the stage has written it)."""
        self._safe(self._probe)

    def _probe(self) -> None:
        grid = self.run_dir / "probe" / "probe_grid.json"
        if "probe" in self.logged or not grid.is_file():
            return
        w = self._begin("probe")
        for f in sorted((self.run_dir / "probe").glob("probe_*_test.png")):
            w.add_image(f"probe/{f.stem}", _png(f), 0, dataformats="HWC")
        for r in json.loads(grid.read_text()).get("table", []):
            for m in ("auc", "bacc", "f1"):
                for col, tag in ((f"{m}_mean", "test"), (f"val_{m}", "val")):
                    if _finite(r.get(col)):
                        w.add_scalar(f"probe/{tag}_{m}/{r['block']}", r[col], int(r["t"]))
        self._finish("probe")

    def gaussianity(self) -> None:
        """``tb/gaussianity`` from ``<run>/gaussianity``."""
        self._safe(self._gaussianity)

    def _gaussianity(self) -> None:
        d = self.run_dir / "gaussianity"
        if "gaussianity" in self.logged or not (d / "ks_map.json").is_file():
            return
        w = self._begin("gaussianity")
        if (d / "ks_pvalues.png").is_file():
            w.add_image("gaussianity/ks_map", _png(d / "ks_pvalues.png"), 0, dataformats="HWC")
        for r in json.loads((d / "ks_map.json").read_text()).get("table", []):
            if _finite(r.get("pvalue")):
                w.add_scalar(f"gaussianity/ks_pvalue/{r['block']}", r["pvalue"], int(r["t"]))
        self._finish("gaussianity")

    # -- heads
    def head_curves(self, method: str, seed, budget: str | None = None):
        """``on_epoch`` callback of ``fit_classifier`` for a head about to be trained: logs every epoch at once.
        ``budget``: the label budget of a budget cell (its part is ``budgets/b<budget>/<method>/seed<k>``)."""
        part = _head_part(method, seed, budget)
        if self._safe(self._begin, part) is None:
            return None

        def on_epoch(record: dict) -> None:
            self._safe(self._epoch, part, record)

        return on_epoch

    def _epoch(self, part: str, record: dict) -> None:
        w = self.open[part]
        _epoch_scalars(w, record)
        w.flush()

    def head_result(self, method: str, seed, row: dict, hparams: dict | None = None, budget: str | None = None):
        """Test metrics and the HParams session of a finished head (``row``: its ``results.json`` seed row, or a
        budget cell's ``metrics.json``). A seed trained in an earlier session (no open writer) gets its whole
        curve from ``row["history"]``."""
        self._safe(self._head_result, _head_part(method, seed, budget), row, hparams or {})

    def _head_result(self, part: str, row: dict, hparams: dict) -> None:
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        if part in self.logged and part not in self.open:
            return
        live = part in self.open  # its epochs were logged as they ran
        w = self.open[part] if live else self._begin(part)
        if not live:
            for record in row.get("history") or []:
                _epoch_scalars(w, record)
        step = int(row.get("best_epoch") or 0)
        metrics = {f"test/{m}": float(row[m]) for m in TEST_METRICS if _finite(row.get(m))}
        hp = {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in hparams.items()}
        if hp and metrics:
            for summary in hparams_summary(hp, metrics):
                w.file_writer.add_summary(summary, step)
        for tag, v in metrics.items():
            w.add_scalar(tag, v, step)
        self._finish(part)

    def sync(self, results: dict | None = None, config: dict | None = None) -> None:
        """Every part the run directory holds and ``tb`` does not yet (a no-op for a run logged live)."""
        self.probe()
        self.gaussianity()
        results = _results(self.run_dir) if results is None else results
        config = _config(self.run_dir) if config is None else config
        if results.get("label_budgets"):  # every cell of every budget; results["methods"] repeats the largest
            for budget, method, seed, row in budget_cells(self.run_dir):
                if _head_part(method, seed, budget) not in self.logged:
                    self.head_result(method, seed, row, budget_hparams(method, seed, budget, row, config), budget)
            return
        for method, e in results.get("methods", {}).items():
            for seed, row in e.get("seeds", {}).items():
                if _head_part(method, seed) not in self.logged:
                    self.head_result(method, seed, row, head_hparams(method, seed, row, config, e))


def _head_part(method: str, seed, budget: str | None = None) -> str:
    seed = str(seed)
    if budget is not None:
        return f"budgets/b{budget}/{method}/seed{seed}"
    if seed in ("-", ""):
        return f"heads/{method}"
    return f"heads/{method}/{seed if seed.startswith('fold') else 'seed' + seed}"


def budget_cells(run_dir: str | Path):
    """``(budget, method, seed, row)`` of every finished label-budget cell (``budgets/b<B>/seed<s>/<method>/
    metrics.json``), in path order."""
    for f in sorted(Path(run_dir).glob("budgets/b*/seed*/*/metrics.json")):
        cdir = f.parent
        yield cdir.parent.parent.name[1:], cdir.name, cdir.parent.name[4:], json.loads(f.read_text())


def budget_hparams(method: str, seed, budget: str, row: dict, config: dict) -> dict:
    """The HParams of one label-budget cell: :func:`head_hparams` plus the budget (labels per class)."""
    return {**head_hparams(method, seed, row, config, {"params": row.get("params"), "input": row.get("input")}),
            "label_budget": str(budget)}


def head_hparams(method: str, seed, row: dict, config: dict, entry: dict | None = None) -> dict:
    """The HParams of one trained head: method, seed, its harness settings and the run's key settings."""
    flat = _flat(config)
    hp = {"method": method, "seed": str(seed)}
    hp.update({k: flat[k] for k in HPARAM_KEYS if k in flat})
    if row.get("epoch_cap") is not None:
        hp["epoch_cap"] = int(row["epoch_cap"])
    if row.get("best_epoch") is not None:
        hp["best_epoch"] = int(row["best_epoch"])
    if entry and entry.get("params") is not None:
        hp["trainable_params"] = int(entry["params"])
    if entry and entry.get("input") is not None:
        hp["inputs"] = str(entry["input"])
    return hp


def export_tensorboard(run_dir: str | Path) -> Path:
    """Fill in ``<run>/tb`` from the run directory's files (the parts it lacks); returns the folder."""
    tb = LiveTensorBoard(run_dir)
    tb.sync()
    tb.close()
    return tb.root


# -- MLflow ------------------------------------------------------------------------------------------------
ARTIFACTS = ("report.html", "results.csv", "summary.csv", "uncertainty.json", "results.json", "config.yaml",
             "versions.json", "done.json")


def export_mlflow(run_dir: str | Path, tracking_uri: str | None = None, experiment: str = "medfx") -> str:
    """Log the run to MLflow (see the module docstring); returns the MLflow run id."""
    try:
        import mlflow  # noqa: F401 - only to fail with a clear message
    except ImportError:
        raise RuntimeError("pipeline.mlflow=true needs MLflow: pip install 'medfx[mlflow]' "
                           "(or mlflow-skinny)") from None
    from mlflow.tracking import MlflowClient

    run_dir = Path(run_dir)
    uri = tracking_uri or None
    if uri is None:
        import os

        uri = os.environ.get("MLFLOW_TRACKING_URI") or (run_dir / "mlruns").resolve().as_uri()
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp is not None else client.create_experiment(experiment)
    import hashlib

    state_file = run_dir / "mlflow.json"
    fingerprint = hashlib.sha256(b"".join((run_dir / f).read_bytes() for f in ("results.json", "config.yaml")
                                          if (run_dir / f).is_file())).hexdigest()[:16]
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    if state.get("tracking_uri") == uri and state.get("fingerprint") == fingerprint:
        return state["run_id"]  # this exact state is logged already (MLflow would append duplicate points)
    tags = {"medfx.run_dir": str(run_dir.resolve())}
    if state.get("run_id") and state.get("tracking_uri") == uri:
        tags["medfx.previous_mlflow_run"] = state["run_id"]  # the run changed since: a new MLflow run
    run_id = client.create_run(exp_id, run_name=run_dir.name, tags=tags).info.run_id
    from mlflow.entities import Metric, Param

    params = [Param(k[:250], str(v)[:6000]) for k, v in _flat(_config(run_dir)).items()]
    import time

    now = int(time.time() * 1000)
    metrics = []
    res = _results(run_dir)
    for method, e in res.get("methods", {}).items():
        for m, v in e.get("summary", {}).items():
            if isinstance(v, list) and v and _finite(v[0]):
                metrics.append(Metric(f"{method}.{m}", float(v[0]), now, 0))
        for seed, r in e.get("seeds", {}).items():
            tag = f"seed{seed}" if seed.isdigit() else "det"
            for m in ("acc", "bacc", "precision", "recall", "f1", "auc"):
                if _finite(r.get(m)):
                    metrics.append(Metric(f"{method}.{tag}.{m}", float(r[m]), now, 0))
            for h in r.get("history") or []:
                for k, v in h.items():
                    if k != "epoch" and _finite(v):
                        metrics.append(Metric(f"{method}.{tag}.{k}", float(v), now, int(h["epoch"])))
    metrics += _budget_metrics(run_dir, res, now)
    for i in range(0, len(params), 100):  # MLflow batch limits: 100 params, 1000 metrics per call
        client.log_batch(run_id, params=params[i:i + 100])
    for i in range(0, len(metrics), 900):
        client.log_batch(run_id, metrics=metrics[i:i + 900])
    for name in ARTIFACTS:
        if (run_dir / name).is_file():
            client.log_artifact(run_id, str(run_dir / name))
    for f in sorted((run_dir / "heads").glob("*/seed*/predictions.csv")):
        client.log_artifact(run_id, str(f), artifact_path=f"predictions/{f.parent.parent.name}/{f.parent.name}")
    for name in ("learning_curves.csv", "learning_curves.json", "learning_curves.png"):
        if (run_dir / name).is_file():
            client.log_artifact(run_id, str(run_dir / name))
    for f in sorted((run_dir / "budgets").glob("b*/*.*")):  # per budget: uncertainty.json, summary.csv
        client.log_artifact(run_id, str(f), artifact_path=f"budgets/{f.parent.name}")
    for f in sorted((run_dir / "budgets").glob("b*/seed*/*/predictions.csv")):
        b, seed, method = f.parent.parent.parent.name, f.parent.parent.name, f.parent.name
        client.log_artifact(run_id, str(f), artifact_path=f"predictions/{b}/{method}/{seed}")
    client.set_terminated(run_id)
    write_json(state_file, {"tracking_uri": uri, "experiment": experiment, "run_id": run_id,
                            "fingerprint": fingerprint})
    return run_id


def _budget_metrics(run_dir: Path, results: dict, now: int) -> list:
    """MLflow metrics of a label-budget run: ``b<B>.<method>.<metric>`` (mean over seeds, the learning-curve
    table) and every cell's ``b<B>.<method>.seed<k>.<metric>`` with its head curve as step metrics."""
    from mlflow.entities import Metric

    if not results.get("label_budgets"):
        return []
    out = []
    for r in results["label_budgets"].get("table", []):
        for m in ("acc", "bacc", "f1", "auc"):
            if _finite(r.get(f"{m}_mean")):
                out.append(Metric(f"b{r['budget']}.{r['method']}.{m}", float(r[f"{m}_mean"]), now, 0))
    for budget, method, seed, row in budget_cells(run_dir):
        tag = f"b{budget}.{method}.seed{seed}"
        out += [Metric(f"{tag}.{m}", float(row[m]), now, 0) for m in TEST_METRICS if _finite(row.get(m))]
        out += [Metric(f"{tag}.{k}", float(v), now, int(h["epoch"])) for h in row.get("history") or []
                for k, v in h.items() if k != "epoch" and _finite(v)]
    return out


def export_all(run_dir: Path, cfg, tb: LiveTensorBoard | None = None) -> None:
    """At the end of a run: the TensorBoard parts not logged yet (``tb``: the run's live logger), and MLflow with
    ``pipeline.mlflow=true``; a tracking failure is logged, never fails the run."""
    pc = cfg.pipeline
    if tb is not None:
        tb.sync()
        tb.close()
    if getattr(pc, "mlflow", False):
        try:
            run_id = export_mlflow(run_dir, pc.mlflow_uri, pc.mlflow_experiment)
            logger.info("MLflow run %s", run_id)
        except Exception as e:  # noqa: BLE001 - every result is on disk already; re-run to retry the export
            logger.error("MLflow export failed (the run's files are complete; re-run to retry): %s", e)


def file_store_blocked(uri: str | None) -> bool:
    """Whether MLflow (3.x) will refuse ``uri`` because it is a local file store and
    ``MLFLOW_ALLOW_FILE_STORE`` is not set (MLflow 3 keeps file stores behind that opt-in)."""
    import os

    if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() in ("1", "true", "yes"):
        return False
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if uri and not (uri.startswith("file:") or "://" not in uri):
        return False  # a server, sqlite://, databricks...
    try:
        from importlib.metadata import version

        return int(version("mlflow-skinny" if _has("mlflow-skinny") else "mlflow").split(".")[0]) >= 3
    except Exception:  # noqa: BLE001
        return False


def _has(dist: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(dist)
        return True
    except PackageNotFoundError:
        return False
