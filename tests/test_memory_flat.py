"""Memory bounded by the batch, not the dataset (issue 16 item 2): lazy row sources for heads and baselines,
gradient accumulation in the head trainer, and the out-of-memory fallback of extraction and sampling."""

import copy
import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from medfx.data.rows import DatasetRows, NpyRows
from medfx.diffusion import DiffusionConfig
from medfx.diffusion.samplers import sample_images
from medfx.features import FeatureExtractor, extract_bank
from medfx.heads import CATSHead, ClassifierData, DCubeHead, HeadTrainConfig, fit_classifier, predict_proba
from medfx.models import DiffusionUNet, UNetConfig

DIFF = DiffusionConfig(num_train_timesteps=50)


class _Split(torch.utils.data.Dataset):
    """A split in bank order: ``(image, label, id)`` items, as medfx datasets give them."""

    def __init__(self, x, y, prefix):
        self.x, self.labels, self.ids, self.class_names = x, np.asarray(y), [f"{prefix}/{i}" for i in range(len(x))], \
            ["a", "b"]

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], int(self.labels[i]), self.ids[i]


def unet(d=2):
    torch.manual_seed(0)
    return DiffusionUNet(UNetConfig(spatial_dims=d, channels=(8, 16), attention_levels=(False, True),
                                    num_head_channels=(8,), norm_num_groups=8)).eval()


# -- row sources ------------------------------------------------------------------------------------------
def test_row_sources_index_like_arrays(tmp_path):
    a = np.random.default_rng(0).normal(size=(9, 12)).astype(np.float32)
    np.save(tmp_path / "a.npy", a)
    src = NpyRows(tmp_path / "a.npy", (3, 2, 2))
    ref = torch.from_numpy(a).reshape(9, 3, 2, 2)
    assert src.shape == (9, 3, 2, 2) and src.ndim == 4 and len(src) == 9
    for idx in (torch.tensor([7, 1, 1, 4]), np.array([0, 8]), [3], slice(2, 7, 2), np.arange(9) % 2 == 0):
        expect = ref[torch.as_tensor(idx)] if not isinstance(idx, slice) else ref[idx]
        assert torch.equal(src[idx], expect)
    view = src.take(np.array([8, 2, 5]))
    assert torch.equal(view[torch.tensor([2, 0])], ref[[5, 8]]) and torch.equal(view.load(), ref[[8, 2, 5]])
    assert torch.equal(view.take([1])[0], ref[2]) and torch.equal(src[-1], ref[8])
    with pytest.raises(IndexError, match="out of range"):
        src[[9]]
    with pytest.raises(ValueError, match="cannot be viewed"):
        NpyRows(tmp_path / "a.npy", (5, 2))

    x = torch.randn(7, 1, 4, 4)
    imgs = DatasetRows([_Split(x[:4], [0] * 4, "train"), _Split(x[4:], [1] * 3, "val")])
    assert imgs.shape == (7, 1, 4, 4) and torch.equal(imgs[torch.tensor([6, 0, 4])], x[[6, 0, 4]])
    assert torch.equal(imgs.take([5, 3]).load(), x[[5, 3]])


# -- lazy vs in-memory -------------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [2, 3])
def test_lazy_bank_and_images_give_identical_training_and_predictions(tmp_path, d):
    """A feature bank on disk and image datasets read batch by batch train the same D-Cube head (features +
    images, flips and shifts) to the same weights and predictions as the same data loaded into tensors."""
    from medfx.workflows.pipeline import _classifier_data

    size = (8,) * d
    g = torch.Generator().manual_seed(0)
    splits = {s: _Split(torch.randn(n, 1, *size, generator=g), np.arange(n) % 2, s)
              for s, n in (("train", 11), ("val", 5), ("test", 4))}
    m = unet(d)
    ext = FeatureExtractor(m, DIFF, blocks=["mid"], timesteps=[5], pool="grid", grid=2, seed=0)
    bank = extract_bank(m, ext, splits, tmp_path / "bank", {"ckpt": "x"}, batch_size=4, progress=False)
    images = DatasetRows([splits[s] for s in ("train", "val", "test")])
    keys = [("mid", 5)]
    lazy = {s: _classifier_data(bank, keys, images, s) for s in ("train", "val", "test")}
    mem = {s: _classifier_data(bank, keys, images, s, in_memory=True) for s in ("train", "val", "test")}
    assert lazy["train"].lazy and not mem["train"].lazy
    assert isinstance(lazy["val"].feats[keys[0]], NpyRows)
    # the in-memory data are the bank's rows and the split's images, exactly
    assert torch.equal(mem["val"].feats[keys[0]], torch.from_numpy(bank.maps(keys[0])[bank.mask("val")].copy()))
    assert torch.equal(mem["test"].images, splits["test"].x)
    cfg = HeadTrainConfig(epochs=2, batch_size=4, device="cpu", augment_flip=True, augment_shift=1, seed=2,
                          patience=0)
    out = []
    for data in (lazy, mem):
        torch.manual_seed(0)
        head = DCubeHead({keys[0]: bank.shapes[keys[0]]}, 2, fuse_channels=4, resnet="resnet18",
                         resnet_widen_factor=0.25)
        fit = fit_classifier(head, data["train"], data["val"], cfg)
        out.append((fit.model.state_dict(), predict_proba(fit.model, data["test"], batch_size=3), fit.history))
    (sa, pa, ha), (sb, pb, hb) = out
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert np.array_equal(pa, pb) and ha == hb


# -- gradient accumulation -----------------------------------------------------------------------------------
def _reference_run(model, x, y, bs, seed, lr, wd, flip):
    """A hand-written loop in the trainer's documented order of random draws: the permutation, then per batch
    the flip draws, then the forward pass (global RNG: dropout); AdamW on the whole batch."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    for idx in torch.randperm(len(y), generator=gen).split(bs):
        if len(idx) < 2:
            continue
        xb = x[idx]
        if flip:
            f = torch.rand(len(idx), generator=gen) < 0.5
            xb = torch.where(f[:, None, None, None], xb.flip(-1), xb)
        loss = F.cross_entropy(model(xb), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def test_grad_accum_gives_the_update_of_the_whole_batch():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(13, 1, 4, 4, generator=g), torch.arange(13) % 3
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    ref = _reference_run(copy.deepcopy(net), x, y, bs=6, seed=4, lr=1e-2, wd=0.1, flip=True)
    data = ClassifierData(y, images=x)
    for k in (1, 2, 3, 6):
        model = copy.deepcopy(net)
        fit_classifier(model, data, data, HeadTrainConfig(epochs=1, batch_size=6, grad_accum=k, lr=1e-2,
                                                          weight_decay=0.1, ema_decay=0, seed=4, device="cpu",
                                                          augment_flip=True))
        for p, q in zip(model.parameters(), ref.parameters()):
            torch.testing.assert_close(p, q, atol=2e-6, rtol=1e-5)
    # with dropout (global RNG) and no accumulation, the trainer equals the reference loop bit for bit
    torch.manual_seed(0)
    drop = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(16, 3))
    ref = _reference_run(copy.deepcopy(drop), x, y, bs=6, seed=4, lr=1e-2, wd=0.1, flip=True)
    model = copy.deepcopy(drop)
    fit_classifier(model, data, data, HeadTrainConfig(epochs=1, batch_size=6, lr=1e-2, weight_decay=0.1,
                                                      ema_decay=0, seed=4, device="cpu", augment_flip=True))
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), ref.parameters()))


def test_grad_accum_settings_and_config_errors():
    from medfx.config import load_config
    from medfx.heads.trainer import _micro_batches, micro_batch_size, train_settings
    from medfx.workflows.pipeline import head_train_config

    assert micro_batch_size(HeadTrainConfig(batch_size=64, grad_accum=4)) == 16
    assert micro_batch_size(HeadTrainConfig(batch_size=5, grad_accum=8)) == 2  # never a one-sample pass
    assert [len(p) for p in _micro_batches(torch.arange(7), 3)] == [3, 4]  # no trailing single sample
    base = train_settings(HeadTrainConfig())
    assert "grad_accum" not in base and "num_workers" not in base  # fingerprints of earlier runs unchanged
    assert train_settings(HeadTrainConfig(grad_accum=2))["grad_accum"] == 2
    cfg = load_config(None, ["preset=tiny", "heads.grad_accum=4", "heads.num_workers=1"])
    t = head_train_config(cfg, 0, baseline=False)
    assert (t.grad_accum, t.num_workers, t.batch_size) == (4, 1, 32)
    with pytest.raises(ValueError, match="grad_accum"):
        load_config(None, ["preset=tiny", "heads.grad_accum=3"])
    with pytest.raises(ValueError, match="grad_accum"):
        HeadTrainConfig(grad_accum=0)


def test_workers_read_lazy_batches(tmp_path):
    """DataLoader workers read NpyRows by path: the same fit as in-process reading."""
    a = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    np.save(tmp_path / "f.npy", a)
    y = torch.arange(12) % 2
    out = []
    for w in (0, 1):
        data = ClassifierData(y, {("mid", 0): NpyRows(tmp_path / "f.npy", (2, 2, 2))})
        torch.manual_seed(0)
        head = CATSHead({("mid", 0): (2, 2, 2)}, 2, width=8, depth=1, heads=2, pool_grid=2)
        fit = fit_classifier(head, data, data, HeadTrainConfig(epochs=1, batch_size=4, device="cpu", num_workers=w))
        out.append(fit.model.state_dict())
    assert all(torch.equal(out[0][k], out[1][k]) for k in out[0])


# -- out-of-memory fallback ---------------------------------------------------------------------------------
def _oom_above(fn, limit, calls):
    def wrapped(x, *a, **k):
        calls.append(x.shape[0])
        if x.shape[0] > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        return fn(x, *a, **k)
    return wrapped


@pytest.mark.parametrize("d", [2, 3])
def test_extraction_halves_the_batch_on_oom(d, caplog):
    m = unet(d)
    x = torch.randn(8, 1, *(8,) * d)
    ids = [f"s{i}" for i in range(8)]
    ref = FeatureExtractor(m, DIFF, timesteps=[5, 20], pool="gap", seed=1)(x, ids)
    calls = []
    m.forward_blocks = _oom_above(m.forward_blocks, 2, calls)  # a device that fits 2 samples
    ext = FeatureExtractor(m, DIFF, timesteps=[5, 20], pool="gap", seed=1)
    with caplog.at_level(logging.WARNING, logger="medfx"):
        got = ext(x, ids)
    assert ext.oom_fallback.size == 2 and "extraction batch of 8 ran out of device memory" in caplog.text
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], atol=1e-5, rtol=0)
    calls.clear()
    ext(x[:6], ids[:6])  # the smaller size is kept: no new failure
    assert max(calls) == 2
    m.forward_blocks = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("shape mismatch"))
    with pytest.raises(RuntimeError, match="shape mismatch"):  # other errors are not retried
        FeatureExtractor(m, DIFF, timesteps=[5], pool="gap")(x, ids)


def test_sampling_halves_the_batch_on_oom(caplog):
    m = unet(2)
    seeds = [3, 4, 5, 6, 7]
    ref = sample_images(m, DIFF, (1, 8, 8), seeds, steps=3)
    calls = []
    m.forward = _oom_above(m.forward, 1, calls)
    with caplog.at_level(logging.WARNING, logger="medfx"):
        got = sample_images(m, DIFF, (1, 8, 8), seeds, steps=3)
    assert set(calls[-3:]) == {1} and "sampling batch" in caplog.text
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)
    m.forward = _oom_above(m.forward, 0, [])
    with pytest.raises(torch.OutOfMemoryError):  # one sample that does not fit is an error
        sample_images(m, DIFF, (1, 8, 8), [1], steps=3)


class _Both(torch.nn.Module):
    """Reads features and images (as D-Cube does), tiny."""

    input_kinds = ("feats", "image")

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(8 + 16, 2)

    def forward(self, feats, images):
        return self.lin(torch.cat([feats[("mid", 0)].flatten(1), images.flatten(1)], 1))


def test_lazy_reads_are_bounded_by_the_batch_not_the_dataset(tmp_path, monkeypatch):
    reads = []
    for cls in (NpyRows, DatasetRows):
        real = cls._read
        monkeypatch.setattr(cls, "_read", lambda self, base, real=real: reads.append(len(base)) or real(self, base))
    for n in (40, 160):
        rng = np.random.default_rng(n)
        np.save(tmp_path / f"f{n}.npy", rng.normal(size=(n, 8)).astype(np.float32))
        y = torch.arange(n) % 2
        images = DatasetRows([_Split(torch.randn(n, 1, 4, 4), y.numpy(), "train")])
        data = ClassifierData(y, {("mid", 0): NpyRows(tmp_path / f"f{n}.npy", (2, 2, 2))}, images)
        reads.clear()
        fit = fit_classifier(_Both(), data, data, HeadTrainConfig(epochs=2, batch_size=8, grad_accum=2,
                                                                  eval_batch_size=16, device="cpu"))
        predict_proba(fit.model, data, batch_size=16)
        assert max(reads) == 16 and sum(r == 4 for r in reads) == 2 * 2 * (n // 4)  # micro-batches of 4
