"""Latent diffusion: autoencoder training and scale factor, the latent DDPM run, features from latents, probes,
loaders of local MONAI state dicts with sha256 checks, provenance of latent checkpoints."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from medfx.config import load_config
from medfx.data.datasets import ArrayDataset
from medfx.models.autoencoder import AutoencoderConfig, latent_of_checkpoint, load_autoencoder
from medfx.train.autoencoder import LatentConfig, encode_dataset, train_autoencoder
from medfx.utils.errors import CheckpointError

AE_2D = dict(channels=(8, 8), attention_levels=(False, False), norm_num_groups=4, latent_channels=2)
AE_KEYS = ["latent.enabled=true", "latent.channels=[8,8]", "latent.attention_levels=[false,false]",
           "latent.norm_num_groups=8", "latent.batch_size=4", "latent.steps=3", "latent.precision=fp32"]


def _blobs(n=24, size=16, dims=2, seed=0):
    """Images in [-1, 1]: a bright square (label 1) or none (label 0) on a noisy background."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, 1) + (size,) * dims, generator=g) * 0.2 - 1
    labels = np.arange(n) % 2
    for i in np.flatnonzero(labels):
        sl = (i, 0) + (slice(4, 12),) * dims
        x[sl] = 1.0
    return ArrayDataset(x, source="blobs", spatial_dims=dims, class_names=["a", "b"], labels=labels,
                        ids=[f"s{i}" for i in range(n)], subjects=None)


def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_autoencoder_trains_scale_factor_is_inverse_std(tmp_path):
    ds = _blobs()
    lc = LatentConfig(enabled=True, steps=40, batch_size=8, lr=3e-3, log_every=5, precision="fp32", **AE_2D)
    latent = train_autoencoder(lc, ds, tmp_path / "ae.pt", seed=0)
    hist = torch.load(tmp_path / "ae.pt", weights_only=True)["metrics"]["history"]
    assert hist[-1]["recon"] < 0.6 * hist[0]["recon"]  # reconstruction improves
    # scale factor: 1 / std of the unscaled posterior means, recomputed independently
    with torch.no_grad():
        mu, _ = latent.autoencoder.encode(ds.images)
    assert latent.scale_factor == pytest.approx(1 / mu.double().std(unbiased=False).item(), rel=1e-5)
    enc = encode_dataset(latent, ds)
    assert tuple(enc[0][0].shape) == (2, 8, 8) and enc.ids == ds.ids and list(enc.labels) == list(ds.labels)
    assert enc.images.std(unbiased=False).item() == pytest.approx(1.0, rel=1e-4)
    # the checkpoint reloads to the same latents, hash recorded
    again = load_autoencoder(tmp_path / "ae.pt", sha256=sha256(tmp_path / "ae.pt"))
    assert torch.allclose(encode_dataset(again, ds).images, enc.images)
    assert again.sha256 == latent.sha256 == sha256(tmp_path / "ae.pt")


def _bundle_state_dict(tmp_path, **arch):
    """A tiny AutoencoderKL state dict in the model-zoo bundle layout (``models/autoencoder.pt``)."""
    from medfx.models.autoencoder import AutoencoderConfig, build_autoencoder

    torch.manual_seed(1)
    model = build_autoencoder(AutoencoderConfig(spatial_dims=3, **arch))
    (tmp_path / "models").mkdir()
    path = tmp_path / "models" / "autoencoder.pt"
    torch.save(model.state_dict(), path)
    return model, path


def test_bundle_autoencoder_loader_checks_hash_keys_and_shapes(tmp_path):
    arch = dict(channels=(8, 8), attention_levels=(False, True), norm_num_groups=4, latent_channels=3)
    model, path = _bundle_state_dict(tmp_path, **arch)
    lc = AutoencoderConfig(spatial_dims=3, **arch)
    latent = load_autoencoder(path, sha256(path), lc, scale_factor=0.5)
    x = torch.randn(2, 1, 8, 8, 8)
    with torch.no_grad():
        assert torch.allclose(latent.encode(x), model.encode(x)[0] * 0.5)
    with pytest.raises(CheckpointError, match="sha256 .* differs from the expected"):
        load_autoencoder(path, "0" * 64, lc)
    with pytest.raises(CheckpointError, match="needs its sha256"):
        load_autoencoder(path, None, lc)
    wrong = AutoencoderConfig(spatial_dims=3, **{**arch, "latent_channels": 4})
    with pytest.raises(CheckpointError, match=r"does not fit .*shape"):
        load_autoencoder(path, sha256(path), wrong)
    fewer = AutoencoderConfig(spatial_dims=3, **{**arch, "attention_levels": (False, False)})
    with pytest.raises(CheckpointError, match=r"does not fit .*(missing|unexpected) key"):
        load_autoencoder(path, sha256(path), fewer)
    # MONAI Generative key names (attention q/k/v, proj_attn, upsample conv) are converted, nothing left out
    old = {k.replace("postconv", "conv").replace(".attn.to_", ".to_").replace(".attn.out_proj.", ".proj_attn."): v
           for k, v in model.state_dict().items()}
    assert set(old) != set(model.state_dict())
    torch.save(old, path)
    latent = load_autoencoder(path, sha256(path), lc, scale_factor=1.0)
    with torch.no_grad():
        assert torch.allclose(latent.encode(x), model.encode(x)[0], atol=1e-6)
    del old[next(k for k in old if "proj_attn" not in k and "conv" in k)]
    torch.save(old, path)
    with pytest.raises(CheckpointError, match="missing key"):
        load_autoencoder(path, sha256(path), lc)


def test_sizes_that_do_not_fit_are_refused_before_training(tmp_path):
    from medfx.config import ConfigError
    from medfx.workflows.train import pretrain

    keys = AE_KEYS + [f"run.out_dir={tmp_path}", "run.name=bad", "latent.channels=[8,8,8]",
                      "latent.attention_levels=[false,false,false]"]
    with pytest.raises(ConfigError, match=r"latent \(5, 5, 5\).*not divisible by 2"):
        pretrain(load_config(preset="tiny-3d", overrides=keys + ["data.size=[20,20,20]"]))
    with pytest.raises(ConfigError, match="not divisible by the autoencoder's reduction 4"):
        pretrain(load_config(preset="tiny-3d", overrides=keys + ["data.size=[18,18,18]"]))
    assert not (tmp_path / "bad").exists()


def test_latent_config_contradictions_are_errors():
    from medfx.config import ConfigError

    with pytest.raises(ConfigError, match="latent.enabled=false"):
        load_config(overrides=["latent.autoencoder=ae.pt", "latent.sha256=" + "a" * 64])
    with pytest.raises(ConfigError, match="sha256"):
        load_config(overrides=["latent.enabled=true", "latent.sha256=abc"])
    with pytest.raises(ConfigError, match="scale_factor"):
        load_config(overrides=["latent.scale_factor=-1"])


def _extract_reference(ckpt_path, cfg, t):
    """Independent path: encode with the checkpoint's autoencoder, noise the latent, run the U-Net's blocks."""
    from medfx.data import load_splits
    from medfx.diffusion.noise import sample_seeds, seeded_noise
    from medfx.diffusion.schedule import make_scheduler
    from medfx.features.pooling import pool_features
    from medfx.models.checkpoint import load_backbone, load_checkpoint

    model, _ = load_backbone(ckpt_path, ema=True)
    ck = load_checkpoint(ckpt_path)
    info = ck["extra"]["latent"]
    from medfx.models.autoencoder import build_autoencoder

    ae = build_autoencoder(info["spec"])
    ae.load_state_dict(torch.load(info["autoencoder"], weights_only=True)["state_dict"])
    ae.eval()
    ds = load_splits(cfg.data)["test"]
    x = torch.stack([ds[i][0] for i in range(4)])
    with torch.no_grad():
        z = ae.encode(x)[0] * info["scale_factor"]
        eps = seeded_noise(sample_seeds(cfg.features.seed, ds.ids[:4], salt="draw0"), z.shape[1:])
        zt = make_scheduler(cfg.diffusion).add_noise(z, eps, torch.full((4,), t))
        feats = model.eval().forward_blocks(zt, torch.full((4,), t), ["mid"])
    return pool_features(feats["mid"].float(), "gap", 2), ds.ids[:4]


# 2D end to end is also covered (training, sampling, sklearn) by the next test; the full 2D variant is slow-only
@pytest.mark.parametrize("preset", ["tiny-3d", pytest.param("tiny", marks=pytest.mark.slow)])
def test_latent_path_end_to_end(tmp_path, preset):
    """Autoencoder trains, the DDPM trains on its latents, the bank holds features of noised latents, a probe runs."""
    from medfx.workflows.features import build_bank, run_probe
    from medfx.workflows.train import pretrain

    keys = AE_KEYS + [f"run.out_dir={tmp_path}", "run.name=ldm", "train.steps=4", "train.ckpt_every=4",
                      "train.precision=fp32", "features.timesteps=[0,20]", "run.threads=0"]
    cfg = load_config(preset=preset, overrides=keys)
    res = pretrain(cfg)
    run = tmp_path / "ldm"
    ae_path = run / "autoencoder" / "autoencoder.pt"
    assert ae_path.is_file() and (run / "last.pt").is_file() and (run / "done.json").is_file()
    ck = torch.load(run / "last.pt", weights_only=True)
    info = ck["extra"]["latent"]
    dims = 3 if preset == "tiny-3d" else 2
    assert info["sha256"] == sha256(ae_path)  # provenance: the autoencoder's hash and settings travel along
    assert info["spec"]["config"]["channels"] == [8, 8] and info["scale_factor"] > 0
    assert info["image_shape"] == [1] + [16] * dims and info["latent_shape"] == [3] + [8] * dims
    assert ck["backbone"]["config"]["in_channels"] == 3  # the U-Net sees the latent
    assert ck["config"]["data"]["size"] == [16] * dims  # the image size, not the latent's
    assert res.step == 4
    bank = build_bank(cfg, run / "last.pt", tmp_path / "bank", progress=False)
    ref, ids = _extract_reference(run / "last.pt", cfg, 20)
    rows = [list(bank.ids).index(str(i)) for i in ids]
    assert np.allclose(np.asarray(bank[("mid", 20)])[rows], ref.numpy(), atol=1e-5)
    result = run_probe(cfg, bank, tmp_path / "probe", progress=False)
    assert np.isfinite(result.matrix("auc")).all()
    # a second run in the same folder reuses the autoencoder; changed AE settings are refused
    pretrain(load_config(preset=preset, overrides=keys + ["train.steps=5"]))
    assert sha256(ae_path) == info["sha256"]
    from medfx.utils.errors import RunError

    with pytest.raises(RunError, match="other latent/data settings"):
        pretrain(load_config(preset=preset, overrides=keys + ["latent.kl_weight=0.1"]))


def test_latent_checkpoint_refuses_a_changed_autoencoder(tmp_path):
    from medfx.workflows.train import pretrain

    keys = AE_KEYS + [f"run.out_dir={tmp_path}", "run.name=ldm", "train.steps=2", "train.ckpt_every=2",
                      "train.precision=fp32", "run.threads=0"]
    pretrain(load_config(preset="tiny", overrides=keys))
    ck = torch.load(tmp_path / "ldm" / "last.pt", weights_only=True)
    ae_path = tmp_path / "ldm" / "autoencoder" / "autoencoder.pt"
    assert latent_of_checkpoint(ck, tmp_path / "ldm" / "last.pt").sha256 == sha256(ae_path)
    # sampling decodes: images of the training image size in the data range, equal to decoding the sampled latents
    import json

    from medfx.diffusion.samplers import sample_images
    from medfx.diffusion.schedule import DiffusionConfig
    from medfx.models.checkpoint import load_backbone
    from medfx.utils.dataclass_io import from_dict
    from medfx.workflows.generate import generate_to_dir

    generate_to_dir(tmp_path / "ldm" / "last.pt", tmp_path / "gen", n=2, steps=3, device="cpu")
    meta = json.loads((tmp_path / "gen" / "generation.json").read_text())
    assert meta["image_shape"] == [1, 16, 16]
    model, _ = load_backbone(tmp_path / "ldm" / "last.pt")
    z = sample_images(model, from_dict(DiffusionConfig, ck["config"]["diffusion"]), (3, 8, 8), [0, 1], steps=3,
                      clip_range=(-1e4, 1e4))
    latent = latent_of_checkpoint(ck, tmp_path / "ldm" / "last.pt")
    x = latent.decode(z).clamp(-1, 1)
    from PIL import Image

    png = sorted((tmp_path / "gen").rglob("000000.png"))[0]
    got = np.asarray(Image.open(png), dtype=np.float64) / 255 * 2 - 1
    assert got.shape == (16, 16) and np.abs(got - x[0, 0].numpy()).max() < 2 / 255 + 1e-6
    # the scikit-learn transformer encodes images first: equal to the extractor on the encoded latents
    from medfx.features.extractor import FeatureExtractor
    from medfx.sklearn import DiffusionFeatures

    imgs = torch.rand(3, 16, 16) * 2 - 1
    tf = DiffusionFeatures(str(tmp_path / "ldm" / "last.pt"), blocks=["mid"], timesteps=[5], device="cpu").fit()
    got = tf.transform(imgs.numpy())
    ext = FeatureExtractor(model, from_dict(DiffusionConfig, ck["config"]["diffusion"]), blocks=["mid"],
                           timesteps=[5])
    want = ext(latent.encode(imgs[:, None]), tf._image_ids(imgs[:, None]))[("mid", 5)]
    assert got.shape == (3, tf.n_features_out_) and np.allclose(got, want.numpy(), atol=1e-5)
    # fine-tuning a latent checkpoint reuses its own autoencoder (no new one is trained)
    pretrain(load_config(preset="tiny", overrides=keys + ["run.name=ft"]), init_from=tmp_path / "ldm" / "last.pt")
    ft = torch.load(tmp_path / "ft" / "last.pt", weights_only=True)
    assert ft["extra"]["latent"]["sha256"] == sha256(ae_path) and not (tmp_path / "ft" / "autoencoder").exists()
    # explicit latent settings that contradict the checkpoint are refused
    from medfx.models.provenance import ProvenanceError
    from medfx.workflows.features import build_bank

    other = tmp_path / "other.pt"
    torch.save({"x": torch.zeros(1)}, other)
    with pytest.raises(ProvenanceError, match="latent.autoencoder=.*contradicts"):
        build_bank(load_config(preset="tiny", overrides=keys + [f"latent.autoencoder={other}"]),
                   tmp_path / "ldm" / "last.pt", tmp_path / "bank", progress=False)
    obj = torch.load(ae_path, weights_only=True)
    obj["scale_factor"] = 2.0
    torch.save(obj, ae_path)
    with pytest.raises(CheckpointError, match="sha256 .* differs"):
        latent_of_checkpoint(ck, tmp_path / "ldm" / "last.pt")


def test_plan_of_latent_preset_counts_autoencoder_and_latent_unet():
    from medfx.workflows.plan import plan

    cfg = load_config(preset="tiny-3d", overrides=AE_KEYS + ["data.size=[16,16,16]", "latent.latent_channels=4"])
    p = plan(cfg)
    stages = {s["stage"]: s for s in p["stages"]}
    assert set(stages) == {"train", "extract", "sample", "ae-train", "ae-encode"}
    assert p["input_shape"] == [1, 16, 16, 16] and p["latent_shape"] == [4, 8, 8, 8]
    from medfx.features.memory import estimate_backbone
    from medfx.models import resolve_backbone_spec

    spec = resolve_backbone_spec(cfg.model, (4, 8, 8, 8), None)
    ref = estimate_backbone(spec, (4, 8, 8, 8), batch=cfg.features.batch_size, mode="extract")
    assert stages["extract"]["peak_gib"] == pytest.approx(ref.peak_bytes / 2**30)
    # a training step keeps the decoder's activations and gradients: more per sample than encoding
    per_sample = {k: stages[k]["activation_gib"] / stages[k]["batch"] for k in ("ae-train", "ae-encode")}
    assert per_sample["ae-train"] > 2 * per_sample["ae-encode"]


def test_bundle_diffusion_loader(tmp_path):
    from monai.networks.nets import DiffusionModelUNet

    from medfx.models import resolve_backbone_spec
    from medfx.models.autoencoder import load_bundle_diffusion

    cfg = load_config(preset="tiny")
    spec = resolve_backbone_spec(cfg.model, (3, 8, 8), None)
    torch.manual_seed(2)
    u = spec["config"]
    net = DiffusionModelUNet(spatial_dims=2, in_channels=3, out_channels=3, channels=tuple(u["channels"]),
                             attention_levels=tuple(u["attention_levels"]), num_res_blocks=u["num_res_blocks"],
                             num_head_channels=u["num_head_channels"][0], norm_num_groups=u["norm_num_groups"],
                             norm_eps=u["norm_eps"])
    path = tmp_path / "model.pt"
    torch.save(net.state_dict(), path)
    model = load_bundle_diffusion(path, sha256(path), spec)
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([3, 40])
    with torch.no_grad():
        assert torch.allclose(model(x, t), net(x, t), atol=1e-6)
    with pytest.raises(CheckpointError, match="sha256"):
        load_bundle_diffusion(path, "1" * 64, spec)
    wider = resolve_backbone_spec(cfg.model, (4, 8, 8), None)
    with pytest.raises(CheckpointError, match="does not fit .*shape"):
        load_bundle_diffusion(path, sha256(path), wider)


def test_adversarial_term_is_optional_and_trains_a_discriminator(tmp_path):
    ds = _blobs(n=8)
    base = dict(enabled=True, steps=4, batch_size=4, lr=1e-3, log_every=1, precision="fp32", **AE_2D)
    plain = train_autoencoder(LatentConfig(**base), ds, tmp_path / "a.pt", seed=0)
    gan = train_autoencoder(LatentConfig(**base, adversarial_weight=0.5, adversarial_start=2, disc_channels=8), ds,
                            tmp_path / "b.pt", seed=0)
    h_plain = torch.load(tmp_path / "a.pt", weights_only=True)["metrics"]["history"]
    h_gan = torch.load(tmp_path / "b.pt", weights_only=True)["metrics"]["history"]
    assert all("adversarial" not in r for r in h_plain)
    assert [("adversarial" in r) for r in h_gan] == [False, False, True, True]  # from adversarial_start on
    assert [r["recon"] for r in h_gan[:3]] == [r["recon"] for r in h_plain[:3]]  # same until the term acts
    assert not torch.equal(plain.encode(ds.images), gan.encode(ds.images))
