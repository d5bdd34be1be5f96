"""Checkpoint provenance: data and diffusion settings travel with a checkpoint into every command that uses it;
explicit contradictions are one-line errors unless ``provenance.allow_mismatch=true`` (``medfx.provenance``)."""

import json
import logging

import numpy as np
import pytest
import torch
import yaml
from conftest import TINY_UNET

from medfx.cli import _load, main
from medfx.config import ExperimentConfig, config_to_dict, load_config
from medfx.data import DataConfig
from medfx.diffusion.schedule import DiffusionConfig
from medfx.models import DiffusionUNet, UNetConfig
from medfx.provenance import ProvenanceError, check_provenance, checkpoint_settings, resolve_config
from medfx.train.checkpoint import FORMAT, atomic_save
from medfx.utils.dataclass_io import to_dict

MISMATCH = "data.intensity_range=[-1,1]"


def make_ckpt(path, data_path, size=(16, 16), num_classes=None, intensity_range=(0.0, 1.0), **data_kw):
    """A tiny untrained U-Net checkpoint 'trained' on [0,1] images with scaled-linear betas."""
    ucfg = UNetConfig(spatial_dims=len(size), channels=(8, 16), attention_levels=(False, True),
                      num_head_channels=(8,), norm_num_groups=8, num_classes=num_classes)
    torch.manual_seed(0)
    model = DiffusionUNet(ucfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    exp = ExperimentConfig(
        data=DataConfig(path=str(data_path), size=size, intensity_range=intensity_range, **data_kw),
        diffusion=DiffusionConfig(num_train_timesteps=50, schedule="scaled_linear_beta", beta_start=0.0005,
                                  beta_end=0.0195))
    sd = model.state_dict()
    atomic_save({"format": FORMAT, "config": config_to_dict(exp),
                 "backbone": {"arch": "unet", "config": to_dict(ucfg)}, "model": sd, "ema": sd, "step": 1,
                 "extra": {"image_shape": [1, *size]}}, path)
    return path


@pytest.fixture
def ckpt(tmp_path, npz2d):
    return make_ckpt(tmp_path / "ck.pt", npz2d)


def run_cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def assert_mismatch_error(rc, err, *fragments):
    assert rc == 2, err
    lines = [x for x in err.strip().splitlines() if x.startswith("medfx: error:")]
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def assert_from_ckpt(cfg):
    assert cfg.data.intensity_range == (0.0, 1.0)
    assert cfg.data.size == (16, 16)
    assert cfg.diffusion.schedule == "scaled_linear_beta" and cfg.diffusion.num_train_timesteps == 50
    assert cfg.diffusion.beta_start == 0.0005 and cfg.diffusion.beta_end == 0.0195


# -- the merge ---------------------------------------------------------------------------------------
def test_checkpoint_settings_reads_provenance_keys(ckpt):
    s = checkpoint_settings(ckpt)
    assert s["data"]["intensity_range"] == [0.0, 1.0] and s["data"]["size"] == [16, 16]
    assert s["diffusion"]["schedule"] == "scaled_linear_beta"
    assert "path" not in s["data"] and "class_dropout" not in s["diffusion"]


@pytest.mark.parametrize("command", ["finetune", "train-head", "run", "extract", "probe", "gaussianity"])
def test_defaults_come_from_checkpoint(ckpt, npz2d, command):
    """Every config command resolves its data/diffusion settings from the checkpoint when none are given."""
    if command == "finetune":
        cfg = _load([f"data.path={npz2d}"], ckpt=str(ckpt))
    elif command in ("train-head", "run"):
        cfg = _load([f"data.path={npz2d}", f"pipeline.checkpoint={ckpt}"], ckpt_key="pipeline.checkpoint")
    else:
        cfg = _load([], ckpt=str(ckpt), whole_data=True)
        assert cfg.data.path == str(npz2d)  # feature commands read the checkpoint's data by default
    assert_from_ckpt(cfg)
    assert load_config(None, [f"data.path={npz2d}"]).data.intensity_range == (-1.0, 1.0)  # the plain default


def test_equal_explicit_settings_are_fine(ckpt, npz2d):
    cfg = resolve_config(None, ["data.intensity_range=[0,1]", "diffusion.num_train_timesteps=50",
                                "data.size=[16,16]"], ckpt=ckpt)
    assert_from_ckpt(cfg)


def test_allow_mismatch_lets_explicit_win(ckpt, caplog):
    with caplog.at_level(logging.WARNING, logger="medfx"):
        cfg = resolve_config(None, [MISMATCH, "diffusion.schedule=linear_beta", "provenance.allow_mismatch=true"],
                             ckpt=ckpt)
    assert cfg.data.intensity_range == (-1.0, 1.0) and cfg.diffusion.schedule == "linear_beta"
    assert cfg.diffusion.beta_start == 0.0005  # not given: still the checkpoint's
    assert "provenance override: data.intensity_range=[-1,1]" in caplog.text


def test_preset_values_count_as_explicit(ckpt):
    with pytest.raises(ProvenanceError, match=r"data.size=\[16,16,16\] contradicts .*data.size=\[16,16\]"):
        resolve_config(None, ["preset=tiny-3d"], ckpt=ckpt)


# -- a one-line error per command path ----------------------------------------------------------------
@pytest.mark.parametrize("command", ["finetune", "train-head", "run", "extract", "probe", "gaussianity"])
def test_contradiction_is_one_line_error(capsys, tmp_path, ckpt, npz2d, command):
    runs = tmp_path / "runs"
    common = [f"data.path={npz2d}", f"run.out_dir={runs}", MISMATCH]
    argv = {"finetune": ["finetune", *common, "--from", ckpt],
            "train-head": ["train-head", *common, "--ckpt", ckpt],
            "run": ["run", *common, f"pipeline.checkpoint={ckpt}"],
            "extract": ["extract", *common, "--ckpt", ckpt, "--out", tmp_path / "f"],
            "probe": ["probe", *common, "--ckpt", ckpt, "--out", tmp_path / "p"],
            "gaussianity": ["gaussianity", *common, "--ckpt", ckpt, "--out", tmp_path / "g"]}[command]
    rc, _, err = run_cli(capsys, *argv)
    assert_mismatch_error(rc, err, "data.intensity_range=[-1,1] contradicts checkpoint", str(ckpt),
                          "(data.intensity_range=[0,1])", "provenance.allow_mismatch=true")
    assert not runs.exists() and not (tmp_path / "f").exists()


def test_diffusion_contradiction_named(capsys, tmp_path, ckpt, npz2d):
    rc, _, err = run_cli(capsys, "finetune", f"data.path={npz2d}", "diffusion.schedule=linear_beta", "--from",
                         ckpt)
    assert_mismatch_error(rc, err, "diffusion.schedule=linear_beta contradicts", "scaled_linear_beta")


def test_run_dry_run_shows_checkpoint_settings(capsys, ckpt, npz2d):
    rc, out, _ = run_cli(capsys, "run", f"data.path={npz2d}", f"pipeline.checkpoint={ckpt}", "--dry-run")
    assert rc == 0
    d = yaml.safe_load(out)
    assert d["data"]["intensity_range"] == [0.0, 1.0] and d["diffusion"]["schedule"] == "scaled_linear_beta"


# -- the library checks behind the CLI -------------------------------------------------------------
def test_build_bank_refuses_contradicting_config(tmp_path, ckpt, npz2d):
    from medfx.features.run import build_bank

    cfg = load_config(None, [f"data.path={npz2d}"])  # plain defaults: [-1,1], linear betas, T=1000
    with pytest.raises(ProvenanceError, match="data.intensity_range=.*and 4 more: diffusion.num_train_timesteps"):
        build_bank(cfg, ckpt, tmp_path / "bank", progress=False)


def test_finetune_library_refuses_contradicting_config(tmp_path, ckpt, npz2d):
    from medfx.train import train_diffusion

    cfg = load_config(None, [f"data.path={npz2d}", f"run.out_dir={tmp_path}", "run.name=ft", *TINY_UNET,
                             "data.size=[16,16]", "train.steps=1", "train.batch_size=4"])
    with pytest.raises(ProvenanceError, match="contradicts checkpoint"):
        train_diffusion(cfg, init_from=ckpt)


def test_finetune_cli_trains_with_checkpoint_settings(capsys, tmp_path, ckpt, npz2d):
    runs = tmp_path / "runs"
    rc, _, err = run_cli(capsys, "finetune", f"data.path={npz2d}", f"run.out_dir={runs}", "run.name=ft",
                         *[o for o in TINY_UNET if not o.startswith("diffusion.")], "train.steps=1",
                         "train.batch_size=4", "train.sample_steps=2", "--from", ckpt)
    assert rc == 0, err
    saved = yaml.safe_load((runs / "ft" / "config.yaml").read_text())
    assert saved["data"]["intensity_range"] == [0.0, 1.0] and saved["diffusion"]["schedule"] == "scaled_linear_beta"


def test_extract_cli_reads_images_in_checkpoint_range(capsys, tmp_path, ckpt):
    rc, _, err = run_cli(capsys, "extract", "features.timesteps=[0]", "features.blocks=[mid]", "--ckpt", ckpt,
                         "--out", tmp_path / "bank")
    assert rc == 0, err
    meta = json.loads(next((tmp_path / "bank").rglob("meta.json")).read_text())
    assert meta["settings"]["data"]["intensity_range"] == [0.0, 1.0]


def test_pipeline_library_refuses_contradicting_checkpoint(tmp_path, ckpt, npz2d):
    from medfx.pipeline.run import run_pipeline

    cfg = load_config(None, [f"data.path={npz2d}", f"run.out_dir={tmp_path / 'runs'}",
                             f"pipeline.checkpoint={ckpt}"])
    with pytest.raises(ProvenanceError):
        run_pipeline(cfg, progress=False)
    assert not (tmp_path / "runs").exists()


def test_check_provenance_returns_nothing_for_equal_settings(ckpt, npz2d):
    cfg = resolve_config(None, [f"data.path={npz2d}"], ckpt=ckpt)
    assert check_provenance(cfg, ckpt) == []


# -- generation commands -------------------------------------------------------------------------------
def test_synthesize_size_contradiction(capsys, tmp_path, npz2d):
    ck = make_ckpt(tmp_path / "c.pt", npz2d, num_classes=2)
    rc, _, err = run_cli(capsys, "synthesize", ck, "--balance", "1", "--size", "8,8", "--out", tmp_path / "s")
    assert_mismatch_error(rc, err, "data.size=[8,8] contradicts checkpoint", "(data.size=[16,16])",
                          "--allow-mismatch")
    assert not (tmp_path / "s").exists()


def test_fid_size_contradiction_and_checkpoint_data_config(capsys, tmp_path, ckpt, npz2d):
    import argparse

    from medfx.generate.commands import fid_data_config

    rc, _, err = run_cli(capsys, "fid", npz2d, npz2d, "--ckpt", ckpt, "--size", "8,8", "--detector", "randconv")
    assert_mismatch_error(rc, err, "data.size=[8,8] contradicts checkpoint", "--allow-mismatch")
    args = argparse.Namespace(ckpt=str(ckpt), fake=str(tmp_path), real=str(npz2d), format="auto", size=None,
                              allow_mismatch=False)
    cfg, src = fid_data_config(args)
    assert src == str(ckpt) and cfg.intensity_range == (0.0, 1.0) and cfg.size == (16, 16)
    args.ckpt = None
    cfg, src = fid_data_config(args)  # no checkpoint: plain defaults
    assert src is None and cfg.intensity_range == (-1.0, 1.0)


def test_sample_and_fid_follow_checkpoint_of_generated_folder(capsys, tmp_path, npz2d):
    """`medfx sample` writes with the checkpoint's range; `medfx fid` finds the checkpoint in generation.json
    and reads REAL like the model saw it (here crop_pad, [0,1])."""
    ck = make_ckpt(tmp_path / "c.pt", npz2d, resize_mode="crop_pad")
    rc, _, err = run_cli(capsys, "sample", ck, "--n", 4, "--steps", 2, "--out", tmp_path / "gen")
    assert rc == 0, err
    info = json.loads((tmp_path / "gen" / "generation.json").read_text())
    assert info["intensity_range"] == [0.0, 1.0]
    rc, out, err = run_cli(capsys, "fid", npz2d, tmp_path / "gen", "--detector", "randconv", "--real-split", "val")
    assert rc == 0, err
    res = json.loads(next((tmp_path / "gen").glob("fd-*.json")).read_text())
    assert res["data_settings_from"] == str(ck) and res["intensity_range"] == [0.0, 1.0]
    assert res["resize_mode"] == "crop_pad" and res["image_size"] == [16, 16]
    assert np.isfinite(res["fd"])
