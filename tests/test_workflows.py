"""The workflow layer: fast start of the command line, and logging that stays where the workflow put it."""

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

from medfx.config import load_config
from medfx.workflows.logs import log_to_file, setup_logging

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


# -- cross-field checks and the quick presets ----------------------------------------------------------------
def test_timesteps_beyond_T_fail_before_any_work(tmp_path, capsys):
    from medfx.cli import main

    t0 = time.perf_counter()
    rc = main(["run", "preset=tiny", f"run.out_dir={tmp_path}", "features.timesteps=[0,200]"])
    err = capsys.readouterr().err
    assert rc == 2 and "features.timesteps [200] are outside [0, 100)" in err
    assert not any(tmp_path.iterdir())  # nothing was created
    assert time.perf_counter() - t0 < 5


def test_unknown_block_fails_with_the_valid_names():
    import pytest

    from medfx.config import check_cross_fields
    from medfx.utils.dataclass_io import ConfigError

    def check(*overrides, uses=("features", "contrastive")):
        check_cross_fields(load_config(None, ["preset=tiny", *overrides]), uses=uses)

    with pytest.raises(ConfigError, match=r"features.blocks: 'in.0' is not a block of the unet backbone.*down.0"):
        check("features.blocks=['in.0']")
    with pytest.raises(ConfigError, match="contrastive.block"):
        check("contrastive.weight=1", "contrastive.block=up.7")
    with pytest.raises(ConfigError, match="gaussianity.t=5 is not one of features.timesteps"):
        check("gaussianity.t=5")
    check("model.arch=uvit", "features.blocks=['in.0','mid']")
    check("features.timesteps=[500]", uses=("contrastive",))  # pretraining does not read the feature settings


def test_config_block_names_match_the_built_backbones():
    from medfx.config import model_block_names
    from medfx.models import build_backbone, resolve_backbone_spec

    for extra in ([], ["model.unet.channels=[8,16,16]", "model.unet.attention_levels=[False,False,True]"],
                  ["model.arch=uvit"], ["model.arch=uvit", "model.uvit.depth=3"]):
        cfg = load_config(None, ["preset=tiny", *extra])
        model = build_backbone(resolve_backbone_spec(cfg.model, (1, 16, 16), None))
        assert model_block_names(cfg.model) == model.block_names(), extra


def test_run_preset_tiny_end_to_end(tmp_path):
    """README's quick check: the whole method on the built-in data in well under a minute of CPU."""
    from medfx.cli import main

    assert main(["run", "preset=tiny", f"run.out_dir={tmp_path}"]) == 0
    run = tmp_path / "tiny"
    res = json.loads((run / "results.json").read_text())
    assert set(res["methods"]) == {"linear_best", "cats", "dcube", "small_cnn", "resnet18"}
    assert (run / "report.html").is_file()
    pipeline_log = (run / "pipeline.log").read_text()
    train_log = (run / "ddpm" / "train.log").read_text()
    assert "finished" in train_log  # the DDPM stage logs into its own run directory ...
    for msg in ("probe grid: best cell", "training resnet18", "pipeline finished"):  # ... and the pipeline's
        assert msg in pipeline_log, msg  # messages after it still reach pipeline.log (it used to stay empty)
    assert "pipeline finished" not in train_log
    assert not [h for h in logging.getLogger("medfx").handlers if isinstance(h, logging.FileHandler)]


# -- one grammar for every command -----------------------------------------------------------------------------
def test_checkpoint_commands_share_one_grammar(tmp_path, capsys):
    import yaml
    from conftest import TINY_UNET, make_npz

    from medfx.cli import main

    data = make_npz(tmp_path / "toy.npz")
    assert main(["pretrain", f"data.path={data}", f"run.out_dir={tmp_path}", "run.name=r", *TINY_UNET,
                 "train.steps=1", "train.batch_size=4"]) == 0
    ckpt = str(tmp_path / "r" / "last.pt")
    capsys.readouterr()
    assert main(["blocks", ckpt]) == 0  # the input size comes from the checkpoint
    assert "input (16, 16)" in capsys.readouterr().out
    for command in ("extract", "probe", "gaussianity", "sample", "synthesize", "finetune", "train-head", "run"):
        forms = ([ckpt], ["--ckpt", ckpt], [f"run.checkpoint={ckpt}"]) if command == "extract" else ([ckpt],)
        for how in forms:
            if command == "finetune" and how[0] == "--ckpt":
                how = ["--from", ckpt]
            seed = [] if command in ("extract", "probe", "gaussianity") else ["--seed", "3"]  # these use features.seed
            argv = [command, *how, "--dry-run", *seed, "--device", "cpu", "features.timesteps=[0,10]"]
            assert main(argv) == 0, (command, how)
            run = yaml.safe_load(capsys.readouterr().out)["run"]
            assert (run["checkpoint"], run["seed"], run["device"]) == (ckpt, 3 if seed else 0, "cpu"), (command, how)
    assert main(["extract", ckpt, "--dry-run", "--out", "somewhere", "features.timesteps=[0]"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["run"]["out"] == "somewhere"
    # the checkpoint's T (50) is checked before anything is extracted
    assert main(["extract", ckpt, "features.timesteps=[0,60]"]) == 2
    assert "outside [0, 50)" in capsys.readouterr().err
    assert not (tmp_path / "r" / "features").exists()
