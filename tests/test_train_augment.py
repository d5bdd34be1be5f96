"""DDPM pretraining augmentation (``train.augment_flip``, ``train.augment_shift``): the batch transform against a
NumPy reference, its refusals, and the training loop's use of it (deterministic per step, so a resumed run
follows the uninterrupted one)."""

import numpy as np
import pytest
import torch
from conftest import TINY_UNET

from medfx.config import load_config
from medfx.data.augment import random_flip_shift
from medfx.models.checkpoint import load_backbone, load_checkpoint
from medfx.train import train_diffusion
from medfx.utils.errors import ConfigError


@pytest.mark.parametrize("spatial,axes,shift", [((6, 7), (0, 1), 2), ((5, 6, 4), (2, 0), 1), ((5, 6, 4), (), 2),
                                                ((6, 7), (1,), 0)])
def test_random_flip_shift_matches_numpy(spatial, axes, shift):
    x = torch.randn(5, 2, *spatial)
    out = random_flip_shift(x, axes, shift, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)  # the documented draw order: flips, then offsets
    flips = (torch.rand(5, len(axes), generator=g) < 0.5).numpy() if axes else np.zeros((5, 0), bool)
    offs = torch.randint(0, 2 * shift + 1, (5, len(spatial)), generator=g).numpy() if shift else None
    d = len(spatial)
    for i in range(5):
        ref = x[i].numpy()
        for j, a in enumerate(axes):
            if flips[i, j]:
                ref = np.flip(ref, 1 + a)
        if shift:
            pad = np.pad(ref, [(0, 0)] + [(shift, shift)] * d, mode="edge")
            ref = pad[(slice(None), *(slice(o, o + s) for o, s in zip(offs[i], spatial)))]
        np.testing.assert_array_equal(out[i].numpy(), ref)
    assert out.shape == x.shape
    if axes or shift:
        assert not torch.equal(out, x)


def test_no_augmentation_is_the_identity_and_draws_nothing():
    x, g = torch.randn(3, 1, 8, 8), torch.Generator().manual_seed(0)
    state = g.get_state()
    assert random_flip_shift(x, (), 0, g) is x
    assert torch.equal(g.get_state(), state)


def test_bad_settings_are_refused_before_work(tmp_path):
    with pytest.raises(ValueError, match="augment_shift must be >= 0"):
        load_config(None, ["train.augment_shift=-1"])
    with pytest.raises(ValueError, match="distinct spatial axes"):
        load_config(None, ["train.augment_flip=[1,1]"])
    with pytest.raises(ValueError, match="2 spatial axes"):
        random_flip_shift(torch.zeros(1, 1, 4, 4), (2,), 0, torch.Generator())


def test_augmentation_with_latent_diffusion_is_refused(npz2d, tmp_path):
    with pytest.raises(ConfigError, match="latent.enabled=true"):  # at config time, before the autoencoder trains
        load_config(None, ["latent.enabled=true", "train.augment_shift=1"])
    cfg = _cfg(npz2d, tmp_path, "r", "train.steps=2", "train.augment_shift=1")
    with pytest.raises(ConfigError, match="act on images"):  # the library call given latents (a decode function)
        train_diffusion(cfg, decode=lambda z: z)
    assert not (tmp_path / "r").exists()


def _cfg(data, out, name, *extra):
    return load_config(None, [f"data.path={data}", f"run.out_dir={out}", f"run.name={name}", *TINY_UNET,
                              "train.batch_size=4", "train.log_every=1", "train.lr=2e-3", *extra])


def test_an_axis_the_images_lack_is_a_config_error_naming_the_data(npz2d, tmp_path):
    with pytest.raises(ConfigError, match=r"toy2d\.npz: train\.augment_flip \[2\]: the images have 2 spatial axes"):
        train_diffusion(_cfg(npz2d, tmp_path, "r", "train.steps=2", "train.augment_flip=[2]"))
    assert not (tmp_path / "r").exists()


def _losses(run_dir):
    import json

    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows}


def test_augmented_training_is_deterministic_and_resumes_exactly(npz3d, tmp_path):
    aug = ("train.steps=6", "train.ckpt_every=3", "train.augment_flip=[0,2]", "train.augment_shift=1")
    plain = _losses(train_diffusion(_cfg(npz3d, tmp_path, "plain", "train.steps=6")).run_dir)
    full = train_diffusion(_cfg(npz3d, tmp_path, "full", *aug))
    a = _losses(full.run_dir)
    # same noise and timesteps at every step, only the images differ (step 1's loss is the same: MONAI's U-Net
    # starts with a zero output layer, so its first prediction does not depend on the image)
    assert a[1] == plain[1] and all(a[s] != plain[s] for s in range(2, 7))
    cfg = _cfg(npz3d, tmp_path, "cut", *aug)
    part = train_diffusion(cfg, stop_after=4)
    assert load_checkpoint(part.run_dir / "last.pt")["step"] == 3
    b = _losses(train_diffusion(cfg).run_dir)
    assert set(b) == set(a)
    for s in a:
        assert b[s] == pytest.approx(a[s], rel=1e-6, abs=1e-7), s
    m1, _ = load_backbone(full.run_dir / "last.pt")
    m2, _ = load_backbone(tmp_path / "cut" / "last.pt")
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.allclose(v1, v2, atol=1e-6), k
    stored = load_checkpoint(full.run_dir / "last.pt")["config"]["train"]
    assert list(stored["augment_flip"]) == [0, 2] and stored["augment_shift"] == 1  # the settings travel with it
