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
from medfx.models.checkpoint import FORMAT, atomic_save
from medfx.provenance import ProvenanceError, check_provenance, checkpoint_settings, resolve_config
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
        cfg = _load([f"data.path={npz2d}", f"run.checkpoint={ckpt}"], provenance=True)
    elif command in ("train-head", "run"):
        cfg = _load([f"data.path={npz2d}", f"pipeline.checkpoint={ckpt}"], provenance=True)
    else:
        cfg = _load([f"run.checkpoint={ckpt}"], provenance=True, whole_data=True)
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
    rc, out, _ = run_cli(capsys, "run", f"data.path={npz2d}", f"pipeline.checkpoint={ckpt}", "features.timesteps=[0,10]",
                         "--dry-run")
    assert rc == 0
    d = yaml.safe_load(out)
    assert d["data"]["intensity_range"] == [0.0, 1.0] and d["diffusion"]["schedule"] == "scaled_linear_beta"


# -- the library checks behind the CLI -------------------------------------------------------------
def test_build_bank_refuses_contradicting_config(tmp_path, ckpt, npz2d):
    from medfx.workflows.features import build_bank

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
    from medfx.workflows.pipeline import run_pipeline

    cfg = load_config(None, [f"data.path={npz2d}", f"run.out_dir={tmp_path / 'runs'}",
                             f"pipeline.checkpoint={ckpt}", "features.timesteps=[0,10]"])
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
                          "provenance.allow_mismatch=true")
    assert not (tmp_path / "s").exists()


def test_fid_size_contradiction_and_checkpoint_data_config(capsys, tmp_path, ckpt, npz2d):
    from medfx.workflows.generate import fid_data_config

    rc, _, err = run_cli(capsys, "fid", npz2d, npz2d, "--ckpt", ckpt, "--size", "8,8", "--detector", "randconv")
    assert_mismatch_error(rc, err, "data.size=[8,8] contradicts checkpoint", "provenance.allow_mismatch=true")
    rc, _, err = run_cli(capsys, "fid", npz2d, npz2d, "--ckpt", ckpt, "fid.size=[8,8]", "fid.detector=randconv")
    assert_mismatch_error(rc, err, "data.size=[8,8] contradicts checkpoint", "provenance.allow_mismatch=true")
    sets = [f"fid.real={npz2d}", f"fid.fake={tmp_path}"]
    cfg, src = fid_data_config(load_config(None, [f"run.checkpoint={ckpt}", *sets]))
    assert src == str(ckpt) and cfg.intensity_range == (0.0, 1.0) and cfg.size == (16, 16)
    cfg, src = fid_data_config(load_config(None, sets))  # no checkpoint: plain defaults
    assert src is None and cfg.intensity_range == (-1.0, 1.0)
    # deliberately other: allowed with the key
    cfg, _ = fid_data_config(load_config(None, [f"run.checkpoint={ckpt}", "provenance.allow_mismatch=true",
                                                "fid.size=[8,8]", *sets]))
    assert cfg.size == (8, 8) and cfg.intensity_range == (0.0, 1.0)


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


# -- any intensity range: a [0,1] model in 2D and 3D ------------------------------------------------------
class _ZeroEps(torch.nn.Module):
    """Predicts zero noise, so x0 = x_t / sqrt(abar_t): far outside any data range at large t."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t, y=None):
        return torch.zeros_like(x) * self.w


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
@pytest.mark.parametrize("shape", [(1, 6, 6), (1, 4, 4, 4)])
def test_sampler_clamps_to_model_range(sampler, shape):
    from medfx.diffusion.samplers import sample_images

    diff = DiffusionConfig(num_train_timesteps=50)
    x01 = sample_images(_ZeroEps(), diff, shape, list(range(4)), sampler=sampler, steps=5, clip_range=(0.0, 1.0))
    assert x01.min() >= 0 and x01.max() <= 1
    assert (x01 == 0).any() and (x01 == 1).any()  # the clamp bites at both ends of [0,1]
    xm = sample_images(_ZeroEps(), diff, shape, list(range(4)), sampler=sampler, steps=5)
    assert xm.min() < 0  # the [-1,1] default reaches below 0 on the same seeds
    # DDIM's last step returns the clamped x0 estimate: with eps = 0 that is clamp(x_1 / sqrt(abar_1))
    if sampler == "ddim":
        assert torch.equal(x01, xm.clamp(0, 1)) or (x01 - xm.clamp(0, 1)).abs().max() < 1e-5


def test_png_writer_maps_model_range_to_uint8(tmp_path):
    from PIL import Image

    from medfx.workflows.generate import _save_image

    img = torch.tensor([[[0.0, 0.5, 1.0]]])
    _save_image(img, tmp_path / "a.png", 0.0, 1.0)
    assert np.asarray(Image.open(tmp_path / "a.png")).tolist() == [[0, 128, 255]]
    _save_image(img, tmp_path / "b.png")  # the [-1,1] convention would put 0 at mid-grey
    assert np.asarray(Image.open(tmp_path / "b.png")).tolist() == [[128, 191, 255]]


def test_sample_2d_01_model_writes_full_range_pngs(tmp_path, npz2d):
    from PIL import Image

    from medfx.workflows.generate import generate_to_dir

    ck = make_ckpt(tmp_path / "c.pt", npz2d)
    generate_to_dir(ck, tmp_path / "g", n=3, steps=3, device="cpu")
    for p in sorted((tmp_path / "g" / "images").glob("*.png")):
        a = np.asarray(Image.open(p))
        assert a.max() > 200  # [0,1] samples use the whole uint8 range (under [-1,1] they would sit at >= 128)
    assert json.loads((tmp_path / "g" / "generation.json").read_text())["intensity_range"] == [0.0, 1.0]


def test_sample_3d_01_model_nifti_geometry_round_trip(tmp_path, npz3d):
    import nibabel as nib

    from medfx.data import load_dataset
    from medfx.generate import load_generated
    from medfx.workflows.generate import generate_to_dir

    ck = make_ckpt(tmp_path / "c3.pt", npz3d, size=(8, 8, 8), orientation="LPS", spacing=(2.0, 2.0, 3.0),
                   resize_mode="crop_pad")
    generate_to_dir(ck, tmp_path / "g3", n=2, steps=3, device="cpu")
    files = sorted((tmp_path / "g3").rglob("*.nii.gz"))
    vol = nib.load(str(files[0]))
    np.testing.assert_allclose(vol.affine[:3, :3], np.diag([-2.0, -2.0, 3.0]))  # L, P, S axes; 2x2x3 mm
    assert nib.aff2axcodes(vol.affine) == ("L", "P", "S")
    data = vol.get_fdata(dtype=np.float32)
    assert 0 <= data.min() < data.max() <= 1
    # read back with the model's own data settings: the same voxels, no reorientation or resampling
    from medfx.generate.sample import _data_config
    from medfx.models.checkpoint import load_checkpoint

    dc = _data_config(load_checkpoint(ck))
    ds = load_generated(tmp_path / "g3", dc)
    back = ds[0][0][0].numpy()
    scaled = (data - data.min()) / (data.max() - data.min())  # per-image min-max into [0,1]
    np.testing.assert_allclose(back, scaled, atol=1e-4)
    assert load_dataset(DataConfig(path=str(tmp_path / "g3" / "volumes.csv"))).spatial_dims == 3


def test_inception_input_follows_model_range(tmp_path):
    import torch.nn as nn

    from medfx.metrics import InceptionDetector

    class StandIn(nn.Module):
        def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
            f = x.flatten(1)
            return torch.stack([f.min(1).values, f.max(1).values], 1)

    path = tmp_path / "s.pt"
    torch.jit.save(torch.jit.script(StandIn()), str(path))
    x = torch.zeros(1, 1, 8, 8)
    x[..., 0, 0], x[..., -1, -1] = 0.0, 1.0
    f = InceptionDetector(path, feature_dim=2, resize_to=8, input_range=(0.0, 1.0), allow_torchscript=True)(x)
    assert f.tolist() == [[0.0, 255.0]]  # [0,1] -> [0,255]
    f = InceptionDetector(path, feature_dim=2, resize_to=8, allow_torchscript=True)(x)  # [-1,1] default: 0 -> 128
    assert f.tolist() == [[128.0, 255.0]]
    vol = torch.zeros(1, 1, 8, 8, 8)
    vol[..., 3] = 1.0  # the central slice along the last axis (start (8 - 1) // 2)
    f3 = InceptionDetector(path, feature_dim=2, resize_to=8, num_slices=1, input_range=(0.0, 1.0),
                           allow_torchscript=True)(vol)
    assert f3.tolist() == [[255.0, 255.0]]


def test_fid_3d_reads_real_with_checkpoint_geometry(capsys, tmp_path, npz3d):
    ck = make_ckpt(tmp_path / "c3.pt", npz3d, size=(8, 8, 8), orientation="RAS", resize_mode="crop_pad")
    rc, _, err = run_cli(capsys, "sample", ck, "--n", 3, "--steps", 2, "--out", tmp_path / "g3")
    assert rc == 0, err
    rc, _, err = run_cli(capsys, "fid", npz3d, tmp_path / "g3", "--detector", "randconv", "--real-split", "val")
    assert rc == 0, err
    res = json.loads(next((tmp_path / "g3").glob("fd-*.json")).read_text())
    assert res["image_size"] == [8, 8, 8] and res["resize_mode"] == "crop_pad" and res["orientation"] == "RAS"
    assert res["intensity_range"] == [0.0, 1.0] and np.isfinite(res["fd"])
