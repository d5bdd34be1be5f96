"""Experiment tracking of a pipeline run, exported from the run directory's files after each stage.

TensorBoard (``pipeline.tensorboard``, on by default; ``tensorboard --logdir <run>``):

* ``<run>/ddpm/tb``: the DDPM's training scalars (written live by the training loop);
* ``<run>/tb``: DDPM sample grids (``ddpm/samples``, one image per saved step), probe-grid heatmaps and KS map
  (``probe/*``, ``gaussianity/ks_map``) plus one scalar per (block, t) cell, every head's training/validation
  curves per seed (``heads/<method>/seed<k>/<metric>`` against the epoch), the test metrics per method and
  seed, and an HParams entry (the run's key settings against the mean test metrics), as TensorBoard's HParams
  plugin expects (``add_hparams``).

MLflow (``pipeline.mlflow=true``, off by default, needs ``pip install medfx[mlflow]``): one MLflow run per medfx
run (its id and a fingerprint of ``results.json`` + ``config.yaml`` are kept in ``<run>/mlflow.json``: re-running an
unchanged run logs nothing twice; a changed one gets a new MLflow run tagged with the previous one) holding
the flattened config as params, the test metrics (``<method>.<metric>``: seed means; ``<method>.seed<k>.<metric>``)
and the head curves as step metrics, and the report, tables, predictions and config as artifacts.

Exports are rebuilt from the files each time (``<run>/tb`` is rewritten), so they always match the run
directory, whatever was resumed or redone.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

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
               "diffusion.num_train_timesteps", "features.pool", "probe.mode", "heads.epochs", "heads.baseline_epochs",
               "heads.lr", "heads.batch_size", "heads.select_metric", "gaussianity.alpha")


def export_tensorboard(run_dir: str | Path) -> Path:
    """(Re)write ``<run>/tb`` from the run directory (see the module docstring); returns the folder."""
    from torch.utils.tensorboard import SummaryWriter

    run_dir = Path(run_dir)
    out = run_dir / "tb"
    shutil.rmtree(out, ignore_errors=True)
    w = SummaryWriter(str(out))
    try:
        for d in ("ddpm", "ddpm-finetune"):
            for f in sorted((run_dir / d / "samples").glob("step-*.png")):
                w.add_image(f"{d}/samples", _png(f), int(f.stem.removeprefix("step-")), dataformats="HWC")
        for f in sorted((run_dir / "probe").glob("probe_*_test.png")):
            w.add_image(f"probe/{f.stem}", _png(f), 0, dataformats="HWC")
        grid = run_dir / "probe" / "probe_grid.json"
        if grid.is_file():
            for r in json.loads(grid.read_text()).get("table", []):
                for m in ("auc", "bacc", "f1"):
                    for col, tag in ((f"{m}_mean", "test"), (f"val_{m}", "val")):
                        if _finite(r.get(col)):
                            w.add_scalar(f"probe/{tag}_{m}/{r['block']}", r[col], int(r["t"]))
        if (run_dir / "gaussianity" / "ks_pvalues.png").is_file():
            w.add_image("gaussianity/ks_map", _png(run_dir / "gaussianity" / "ks_pvalues.png"), 0, dataformats="HWC")
        res = _results(run_dir)
        for method, e in res.get("methods", {}).items():
            for seed, r in e.get("seeds", {}).items():
                for h in r.get("history") or []:
                    for k, v in h.items():
                        if k != "epoch" and _finite(v):
                            w.add_scalar(f"heads/{method}/seed{seed}/{k}", v, int(h["epoch"]))
                for m in ("acc", "bacc", "precision", "recall", "f1", "auc"):
                    if _finite(r.get(m)):
                        w.add_scalar(f"test/{method}/{m}", r[m], int(seed) if seed.isdigit() else 0)
        cfg = _flat(_config(run_dir))
        hp = {k: cfg[k] for k in HPARAM_KEYS if k in cfg}
        metrics = {f"hparam/{method}_{m}": e["summary"][m][0] for method, e in res.get("methods", {}).items()
                   for m in ("auc", "bacc") if _finite((e.get("summary", {}).get(m) or [None])[0])}
        if hp and metrics:
            w.add_hparams(hp, metrics, run_name="hparams")
    finally:
        w.close()
    return out


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
    for i in range(0, len(params), 100):  # MLflow batch limits: 100 params, 1000 metrics per call
        client.log_batch(run_id, params=params[i:i + 100])
    for i in range(0, len(metrics), 900):
        client.log_batch(run_id, metrics=metrics[i:i + 900])
    for name in ARTIFACTS:
        if (run_dir / name).is_file():
            client.log_artifact(run_id, str(run_dir / name))
    for f in sorted((run_dir / "heads").glob("*/seed*/predictions.csv")):
        client.log_artifact(run_id, str(f), artifact_path=f"predictions/{f.parent.parent.name}/{f.parent.name}")
    client.set_terminated(run_id)
    write_json(state_file, {"tracking_uri": uri, "experiment": experiment, "run_id": run_id,
                            "fingerprint": fingerprint})
    return run_id


def export_all(run_dir: Path, cfg) -> None:
    """The exports ``cfg.pipeline`` asks for; a tracking failure is logged, never fails the run."""
    pc = cfg.pipeline
    if getattr(pc, "tensorboard", True):
        try:
            export_tensorboard(run_dir)
        except Exception as e:  # noqa: BLE001
            logger.warning("TensorBoard export failed: %s", e)
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
