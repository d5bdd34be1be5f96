"""Sampling to files, FD command, synthetic rebalancing (tiny random U-Nets, CPU)."""

import csv
import json

import nibabel as nib
import numpy as np
import pytest
import torch
from PIL import Image

from medfx.config import ExperimentConfig, config_to_dict
from medfx.data import DataConfig, load_dataset, load_splits
from medfx.diffusion.samplers import sample_images
from medfx.diffusion.schedule import DiffusionConfig
from medfx.generate import (
    load_generated,
    mixed_training_set,
    read_manifest,
    rebalance_counts,
)
from medfx.models import DiffusionUNet, UNetConfig
from medfx.models.checkpoint import FORMAT, atomic_save
from medfx.utils.dataclass_io import to_dict
from medfx.workflows.generate import generate_to_dir, register, synthesize

T = 20  # training timesteps of the tiny checkpoints
STEPS = 3


def tiny_unet(num_classes=2, spatial_dims=2, seed=0):
    cfg = UNetConfig(
        spatial_dims=spatial_dims,
        channels=(8, 16),
        attention_levels=(False, True),
        num_head_channels=(8,),
        norm_num_groups=8,
        num_classes=num_classes,
    )
    torch.manual_seed(seed)
    model = DiffusionUNet(cfg)
    with torch.no_grad():  # MONAI zero-initialises the output conv: perturb every weight so outputs vary
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model.eval(), cfg


def make_ckpt(path, data_path="missing.npz", size=(16, 16), num_classes=2):
    model, ucfg = tiny_unet(num_classes, spatial_dims=len(size))
    exp = ExperimentConfig(
        data=DataConfig(path=str(data_path), size=size), diffusion=DiffusionConfig(num_train_timesteps=T)
    )
    sd = model.state_dict()
    atomic_save(
        {
            "format": FORMAT,
            "config": config_to_dict(exp),
            "backbone": {"arch": "unet", "config": to_dict(ucfg)},
            "model": sd,
            "ema": sd,
            "step": 0,
        },
        path,
    )
    return path


def make_imbalanced_npz(path, train=(10, 4), size=16, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, counts in (("train", train), ("val", (2, 2)), ("test", (3, 3))):
        y = np.repeat(np.arange(len(counts)), counts)
        x = rng.integers(0, 255, size=(len(y), size, size)).astype(np.uint8)
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = x, y.reshape(-1, 1).astype(np.uint8)
    np.savez(path, class_names=np.array(["benign", "malignant"]), **arrays)
    return path


@pytest.fixture
def ckpt2d(tmp_path):
    return make_ckpt(tmp_path / "c2d.pt", make_imbalanced_npz(tmp_path / "data.npz"))


# -- sampling ------------------------------------------------------------------------------------
@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_seeded_sampling_is_batch_size_invariant(sampler):
    model, _ = tiny_unet()
    diff = DiffusionConfig(num_train_timesteps=T)
    seeds, labels = [5, 6, 7, 8], torch.tensor([0, 1, 1, 0])
    together = sample_images(model, diff, (1, 16, 16), seeds, labels, sampler=sampler, steps=STEPS)
    alone = torch.cat(
        [
            sample_images(model, diff, (1, 16, 16), [s], labels[i : i + 1], sampler=sampler, steps=STEPS)
            for i, s in enumerate(seeds)
        ]
    )
    assert together.shape == (4, 1, 16, 16)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)
    assert together.std() > 0.05 and (together[0] - together[1]).abs().max() > 0.05  # not constant


def test_generate_to_dir_files_do_not_depend_on_batch_size(ckpt2d, tmp_path):
    a = generate_to_dir(
        ckpt2d, tmp_path / "a", per_class={0: 2, 1: 3}, steps=STEPS, seed=3, batch_size=1, device="cpu"
    )
    b = generate_to_dir(
        ckpt2d, tmp_path / "b", per_class={0: 2, 1: 3}, steps=STEPS, seed=3, batch_size=4, device="cpu"
    )
    rows_a, _ = read_manifest(a.parent)
    for r in rows_a:
        pa, pb = np.asarray(Image.open(a.parent / r["file"])), np.asarray(Image.open(b.parent / r["file"]))
        assert np.abs(pa.astype(int) - pb.astype(int)).max() <= 1  # identical up to uint8 rounding


def test_ddim_over_every_timestep_equals_monai_ddim_scheduler():
    """medfx's DDIM (x0 and eps through ``NoiseProcess``) against MONAI's ``DDIMScheduler.step`` with eta=0 over all
    T timesteps, from the same starting noise (no clipping on either side: MONAI does not re-derive eps from a
    clipped x0)."""
    from monai.networks.schedulers import DDIMScheduler

    model, _ = tiny_unet()
    diff = DiffusionConfig(num_train_timesteps=T)
    labels = torch.tensor([0, 1])
    ours = sample_images(model, diff, (1, 16, 16), [3, 4], labels, sampler="ddim", steps=T, clip_range=(-1e4, 1e4))
    ref = DDIMScheduler(num_train_timesteps=T, schedule="linear_beta", beta_start=1e-4, beta_end=0.02,
                        clip_sample=False)
    ref.set_timesteps(T)
    x = torch.stack([torch.randn((1, 16, 16), generator=torch.Generator().manual_seed(s)) for s in (3, 4)])
    with torch.no_grad():
        for t in ref.timesteps:
            x, _ = ref.step(model(x, torch.full((2,), int(t)), labels), int(t), x)
    assert ref.timesteps.tolist() == list(range(T - 1, -1, -1))
    torch.testing.assert_close(ours, x, rtol=1e-4, atol=1e-4)
    assert ours.std() > 0.05


def test_conditional_samples_depend_on_label():
    model, _ = tiny_unet()
    diff = DiffusionConfig(num_train_timesteps=T)
    seeds = [0, 1, 2]
    x0 = sample_images(model, diff, (1, 16, 16), seeds, torch.zeros(3, dtype=torch.long), steps=STEPS)
    x0_again = sample_images(model, diff, (1, 16, 16), seeds, torch.zeros(3, dtype=torch.long), steps=STEPS)
    x1 = sample_images(model, diff, (1, 16, 16), seeds, torch.ones(3, dtype=torch.long), steps=STEPS)
    assert torch.equal(x0, x0_again)
    assert (x0 - x1).abs().flatten(1).max(1).values.min() > 1e-2  # every sample changes with its label


def test_generate_writes_files_grid_and_manifest(ckpt2d, tmp_path):
    out = tmp_path / "gen"
    manifest = generate_to_dir(
        ckpt2d, out, per_class={0: 3, 1: 2}, steps=STEPS, seed=10, batch_size=2, device="cpu"
    )
    assert manifest == out / "manifest.csv"
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["file", "class", "class_name", "seed"]
    assert [r["class"] for r in rows] == ["0", "0", "0", "1", "1"]
    assert [r["class_name"] for r in rows] == ["benign"] * 3 + [
        "malignant"
    ] * 2  # names from the checkpoint's data
    assert [int(r["seed"]) for r in rows] == [10, 11, 12, 13, 14]
    assert (
        len(list((out / "benign").glob("*.png"))) == 3 and len(list((out / "malignant").glob("*.png"))) == 2
    )
    img = np.asarray(Image.open(out / rows[0]["file"]))
    assert img.shape == (16, 16) and img.dtype == np.uint8 and img.max() > img.min()
    assert (out / "grid.png").is_file()
    info = json.loads((out / "generation.json").read_text())
    assert info["counts"] == {"benign": 3, "malignant": 2} and info["image_shape"] == [1, 16, 16]
    # the folder is a medfx image-folder dataset, and load_generated keeps the model's labels
    ds = load_dataset(DataConfig(path=str(out)))
    assert len(ds) == 5 and ds.class_names == ["benign", "malignant"] and sorted(ds.labels) == [0, 0, 0, 1, 1]
    gen = load_generated(out)
    assert len(gen) == 5 and list(gen.labels) == [0, 0, 0, 1, 1] and gen[4][0].shape == (1, 16, 16)


def test_generate_n_round_robin_and_errors(ckpt2d, tmp_path):
    generate_to_dir(ckpt2d, tmp_path / "n", n=3, steps=STEPS, device="cpu")
    rows, names = read_manifest(tmp_path / "n")
    assert [r["class"] for r in rows] == [0, 1, 0] and names == ["benign", "malignant"]
    generate_to_dir(ckpt2d, tmp_path / "pc", per_class=2, steps=STEPS, device="cpu")
    assert [r["class"] for r in read_manifest(tmp_path / "pc")[0]] == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="not empty"):
        generate_to_dir(ckpt2d, tmp_path / "pc", n=2, steps=STEPS, device="cpu")
    with pytest.raises(ValueError, match="exactly one of n"):
        generate_to_dir(ckpt2d, tmp_path / "x", n=2, per_class=2, steps=STEPS, device="cpu")
    with pytest.raises(ValueError, match="class 5"):
        generate_to_dir(ckpt2d, tmp_path / "x", per_class={5: 1}, steps=STEPS, device="cpu")


def test_unconditional_model(tmp_path):
    ckpt = make_ckpt(tmp_path / "u.pt", num_classes=None)
    with pytest.raises(ValueError, match="per_class needs a class-conditional model"):
        generate_to_dir(ckpt, tmp_path / "u1", per_class=2, steps=STEPS, device="cpu")
    generate_to_dir(ckpt, tmp_path / "u2", n=3, steps=STEPS, device="cpu")
    rows, names = read_manifest(tmp_path / "u2")
    assert names is None and [r["class"] for r in rows] == [None] * 3
    assert len(list((tmp_path / "u2" / "images").glob("*.png"))) == 3
    assert (load_dataset(DataConfig(path=str(tmp_path / "u2" / "images"))).labels == -1).all()


def test_3d_writes_nifti_and_csv(tmp_path):
    ckpt = make_ckpt(tmp_path / "c3d.pt", size=(8, 8, 8))
    out = tmp_path / "vol"
    generate_to_dir(ckpt, out, per_class=1, steps=2, device="cpu")
    files = sorted(out.rglob("*.nii.gz"))
    assert len(files) == 2
    vol = nib.load(str(files[0]))
    data = vol.get_fdata(dtype=np.float32)
    assert (
        data.shape == (8, 8, 8) and vol.get_data_dtype() == np.float32
        and np.allclose(vol.affine[:3, :3], np.eye(3)) and np.allclose(vol.affine[:3, 3], -3.5)  # RAS, 1 mm, centred
    )
    assert -1 <= data.min() < data.max() <= 1
    ds = load_dataset(DataConfig(path=str(out / "volumes.csv"), intensity_range=(-1.0, 1.0)))
    assert len(ds) == 2 and ds.spatial_dims == 3 and ds[0][0].shape == (1, 8, 8, 8)
    assert ds.class_names == ["0", "1"]  # the checkpoint's data is not available: class indices as names


# -- rebalancing -----------------------------------------------------------------------------------
def test_rebalance_counts_exact():
    assert rebalance_counts([100, 10, 40], 1.0) == {0: 0, 1: 90, 2: 60}
    assert rebalance_counts([100, 10, 40], 0.5) == {0: 0, 1: 40, 2: 10}
    assert rebalance_counts([7, 7], 1.0) == {0: 0, 1: 0}  # already balanced
    assert rebalance_counts({0: 10, 3: 7}, 0.7) == {0: 0, 3: 0}  # 0.7 * 10 is 7, not 8
    assert rebalance_counts({0: 10, 3: 2}, 0.35) == {0: 0, 3: 2}  # ceil(3.5) = 4
    assert rebalance_counts([0, 5], 1.0) == {0: 5, 1: 0}
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="ratio"):
            rebalance_counts([1, 2], bad)
    with pytest.raises(ValueError, match="negative"):
        rebalance_counts([1, -2], 1.0)
    with pytest.raises(ValueError, match="empty"):
        rebalance_counts([0, 0], 1.0)


def test_synthesize_and_mixed_training_set(ckpt2d, tmp_path):
    cfg = DataConfig(path=str(tmp_path / "data.npz"))
    res = synthesize(ckpt2d, cfg, 1.0, tmp_path / "syn", steps=STEPS, seed=1, batch_size=4, device="cpu")
    assert res.real_counts == {0: 10, 1: 4} and res.counts == {0: 0, 1: 6}
    rows, names = read_manifest(res.manifest.parent)
    assert [r["class"] for r in rows] == [1] * 6 and names == ["benign", "malignant"]

    real = load_splits(cfg)["train"]
    mixed = mixed_training_set(real, res.manifest.parent)
    assert len(mixed) == len(real) + 6 == 20
    assert np.bincount(mixed.labels).tolist() == [10, 10]
    x, y, sid = mixed[len(mixed) - 1]
    assert x.shape == real[0][0].shape and y == 1 and sid.startswith("synthetic/malignant/")
    assert mixed[0][2] == real[0][2] and mixed[0][1] == real[0][1]
    assert -1.0 <= float(x.min()) < float(x.max()) <= 1.0

    half = synthesize(ckpt2d, cfg, 0.5, tmp_path / "syn_half", steps=STEPS, device="cpu")
    assert half.counts == {0: 0, 1: 1} and len(read_manifest(tmp_path / "syn_half")[0]) == 1


def test_synthesize_needs_conditional_model(tmp_path):
    data = make_imbalanced_npz(tmp_path / "d.npz")
    ckpt = make_ckpt(tmp_path / "u.pt", data, num_classes=None)
    with pytest.raises(ValueError, match="class-conditional"):
        synthesize(ckpt, DataConfig(path=str(data)), 1.0, tmp_path / "o", steps=STEPS, device="cpu")


# -- command line ----------------------------------------------------------------------------------
def _cli():
    from medfx import cli

    if register not in cli._EXTRA_COMMANDS:
        cli._EXTRA_COMMANDS.append(register)
    return cli.main


def _png_folder(root, noise, n=12, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:16, :16]
    for c, name in enumerate(["a", "b"]):
        (root / name).mkdir(parents=True)
        for i in range(n):
            base = np.sin(xx / (2 + c + i % 3)) + np.cos(yy / (3 + i % 4))
            img = base + noise * rng.standard_normal(base.shape)
            img = (img - img.min()) / (img.max() - img.min()) * 255
            Image.fromarray(img.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def test_cli_fid_on_png_folders(tmp_path, capsys):
    main = _cli()
    real = _png_folder(tmp_path / "real", noise=0.0)
    noisy = _png_folder(tmp_path / "noisy", noise=1.0)
    out_self, out_noisy = tmp_path / "self.json", tmp_path / "noisy.json"
    assert (
        main(["fid", str(real), str(real), "--detector", "randconv", "--per-class", "--out", str(out_self)])
        == 0
    )
    assert (
        main(["fid", str(real), str(noisy), "--detector", "randconv", "--per-class", "--out", str(out_noisy)])
        == 0
    )
    text = capsys.readouterr().out
    assert "FD_randconv2d" in text and "precision" in text and "coverage" in text
    same, other = json.loads(out_self.read_text()), json.loads(out_noisy.read_text())
    # every option is a fid.* key, REAL / FAKE included; the flags above are aliases of these
    out_keys = tmp_path / "keys.json"
    cfg = tmp_path / "fid.yaml"
    cfg.write_text(f"fid:\n  real: {real}\n  fake: {noisy}\n  detector: randconv\n  per_class: true\n")
    assert main(["fid", str(cfg), "--out", str(out_keys)]) == 0
    assert json.loads(out_keys.read_text()) == other
    assert same["fd_label"].startswith("FD_randconv") and same["n_real"] == same["n_fake"] == 24
    assert same["fd"] < 1e-3 * other["fd"] and other["fd"] > 0
    assert set(same["per_class"]) == {"a", "b"} and all(
        r["fd"] < 1e-3 * other["fd"] for r in same["per_class"].values()
    )
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    assert other["per_class"]["a"]["fd"] > 0


def test_cli_sample_and_errors(ckpt2d, tmp_path, capsys):
    main = _cli()
    out = tmp_path / "s"
    assert (
        main(
            [
                "sample",
                str(ckpt2d),
                "--per-class",
                "0:1,1:2",
                "--steps",
                "2",
                "--out",
                str(out),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert [r["class"] for r in read_manifest(out)[0]] == [0, 1, 1]
    assert "malignant" in capsys.readouterr().out
    assert main(["fid", str(out), str(out), "--detector", "inception"]) == 2
    assert "--weights" in capsys.readouterr().err


def test_cli_synthesize_and_fid_with_diffusion_detector(ckpt2d, tmp_path, capsys):
    main = _cli()
    out = tmp_path / "syn"
    assert (
        main(
            [
                "synthesize",
                str(ckpt2d),
                "--balance",
                "0.5",
                "--out",
                str(out),
                "--steps",
                "2",
                "--device",
                "cpu",
            ]
        )
        == 0
    )  # data: the checkpoint's own (10 benign, 4 malignant in train)
    text = capsys.readouterr().out
    assert "synthetic" in text and [r["class"] for r in read_manifest(out)[0]] == [1]
    gen = tmp_path / "gen"
    assert (
        main(["sample", str(ckpt2d), "--n", "6", "--steps", "2", "--out", str(gen), "--device", "cpu"]) == 0
    )
    assert main(["fid", str(tmp_path / "data.npz"), str(gen), "--ckpt", str(ckpt2d), "--k", "2"]) == 0
    res = json.loads((gen / "fd-diffusion-mid-t0.json").read_text())
    assert res["fd_label"] == "FD_diffusion-mid-t0" and res["n_real"] == 14 and res["n_fake"] == 6
    assert res["fd"] > 0 and 0 <= res["precision"] <= 1
