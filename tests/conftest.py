import os

import numpy as np
import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
# precision=auto caches measured verdicts; tests never read or write the user's ~/.cache/medfx
if "MEDFX_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["MEDFX_CACHE_DIR"] = tempfile.mkdtemp(prefix="medfx-test-cache-")
torch.set_num_threads(1)  # tiny models: one thread is fastest and deterministic

TINY_UNET = ["model.unet.channels=[8,16]", "model.unet.attention_levels=[False,True]",
             "model.unet.num_head_channels=[8]", "model.unet.norm_num_groups=8", "diffusion.num_train_timesteps=50",
             "train.sample_steps=3", "train.num_samples=2", "train.precision=fp32"]


def make_npz(path, spatial=(16, 16), n=(24, 8, 8), classes=2, seed=0):
    """A tiny MedMNIST-style npz: class 1 images have a bright square, class 0 are dark with noise."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n):
        y = np.arange(count) % classes
        x = rng.integers(0, 40, size=(count, *spatial)).astype(np.uint8)
        for i, c in enumerate(y):
            if c:
                sl = tuple(slice(s // 4, s // 4 + s // (2 + c)) for s in spatial)
                x[(i, *sl)] = 220
        arrays[f"{split}_images"] = x
        arrays[f"{split}_labels"] = y.reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)
    return path


@pytest.fixture
def one_thread():
    """Tiny models run fastest single-threaded (and do not fight over shared CPUs); restores the thread count after
    the test, whatever an earlier test set it to (modules opt in with ``pytestmark``)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def npz2d(tmp_path):
    return make_npz(tmp_path / "toy2d.npz")


@pytest.fixture
def npz3d(tmp_path):
    return make_npz(tmp_path / "toy3d.npz", spatial=(16, 16, 16), n=(12, 4, 4))
