"""The workflow layer: fast start of the command line, and logging that stays where the workflow put it."""

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

from conftest import TINY_UNET, make_npz

from medfx.config import load_config
from medfx.workflows.logs import log_to_file, setup_logging
from medfx.workflows.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "monai", "sklearn", "scipy", "matplotlib", "numpy", "yaml", "PIL", "nibabel")

_PROBE = """
import runpy, sys, json
sys.argv = ["medfx", *{argv!r}]
try:
    runpy.run_module("medfx", run_name="__main__")
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)
"""


def _loaded_by(*argv):
    code = _PROBE.format(argv=list(argv), heavy=HEAVY)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return json.loads(r.stderr.strip().splitlines()[-1]), r.stdout


def test_help_and_version_import_no_heavy_library():
    for argv in (["--help"], ["--version"], ["run", "--help"], ["sample", "--help"], ["pretrain", "--help"]):
        loaded, out = _loaded_by(*argv)
        assert loaded == [], (argv, loaded)
        assert out, argv


def test_help_is_fast():
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "medfx", "--help"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    dt = time.perf_counter() - t0
    assert r.returncode == 0 and "pretrain" in r.stdout
    assert dt < 3.0, f"medfx --help took {dt:.2f} s"  # ~0.3 s measured; generous for a busy shared machine
    r = subprocess.run([sys.executable, "-m", "medfx", "--version"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("medfx ")


def test_setup_logging_keeps_other_file_handlers(tmp_path):
    log = logging.getLogger("medfx")
    before = list(log.handlers)
    try:
        with log_to_file(tmp_path / "outer.log"):
            setup_logging(level=logging.INFO)  # must not drop outer.log
            with log_to_file(tmp_path / "inner.log"):
                log.info("both")
            log.info("outer only")
        log.info("neither")
    finally:
        for h in list(log.handlers):
            if h not in before:
                log.removeHandler(h)
    outer, inner = (tmp_path / "outer.log").read_text(), (tmp_path / "inner.log").read_text()
    assert "both" in outer and "outer only" in outer and "neither" not in outer
    assert "both" in inner and "outer only" not in inner


def test_pipeline_log_holds_the_pipeline_messages(tmp_path):
    data = make_npz(tmp_path / "toy.npz")
    cfg = load_config(None, [f"data.path={data}", f"run.out_dir={tmp_path}", "run.name=p", *TINY_UNET,
                             "train.steps=2", "train.batch_size=4", "features.timesteps=[0,20]",
                             "pipeline.stages=['pretrain','extract','probe']"])
    run = run_pipeline(cfg, progress=False)
    pipeline_log = (run / "pipeline.log").read_text()
    train_log = (run / "ddpm" / "train.log").read_text()
    assert "finished" in train_log  # the DDPM stage logs into its own run directory ...
    assert "pipeline finished" in pipeline_log  # ... and the pipeline's messages after it still reach pipeline.log
    assert "pipeline finished" not in train_log
    assert not [h for h in logging.getLogger("medfx").handlers if isinstance(h, logging.FileHandler)]
