"""One forward pass per (image, t): several poolings from one extraction, superset banks reused for subsets,
and a pipeline run that extracts once (counted with a wrapper around the backbone's ``forward_blocks``)."""

import json

import numpy as np
import pytest
import torch
from conftest import make_npz

from medfx.diffusion.schedule import DiffusionConfig
from medfx.features.bank import FeatureBank, bank_settings, covering_bank, extract_bank, extract_banks
from medfx.features.extractor import FeatureExtractor
from medfx.models import DiffusionUNet, UNetConfig

DIFF = DiffusionConfig(num_train_timesteps=50)


def unet():
    torch.manual_seed(0)
    return DiffusionUNet(UNetConfig(channels=(8, 16), attention_levels=(False, True),
                                    num_head_channels=(8,), norm_num_groups=8)).eval()


class _Split(torch.utils.data.Dataset):
    def __init__(self, x, y, prefix):
        self.x, self.labels, self.ids, self.class_names = x, y, [f"{prefix}/{i}" for i in range(len(x))], ["a", "b"]

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], int(self.labels[i]), self.ids[i]


def _splits():
    g = torch.Generator().manual_seed(0)
    return {s: _Split(torch.randn(n, 1, 16, 16, generator=g), np.arange(n) % 2, s)
            for s, n in (("train", 10), ("val", 4), ("test", 4))}


class Counter:
    """Counts (images, t) pairs that go through ``forward_blocks`` of the wrapped model instance."""

    def __init__(self, model):
        self.calls = []
        inner = model.forward_blocks

        def counted(x, t, blocks=None, y=None, **kw):  # kw: reduce= (blocks pooled as they are produced)
            self.calls.append((int(x.shape[0]), int(t[0])))
            return inner(x, t, blocks, y=y, **kw)

        model.forward_blocks = counted

    @property
    def images(self):
        return sum(b for b, _ in self.calls)


def test_one_pass_writes_every_pooling(tmp_path):
    m, splits = unet(), _splits()
    count = Counter(m)
    ext = FeatureExtractor(m, DIFF, blocks=["down.0", "mid", "up.1"], timesteps=[0, 20, 40], pool="gap", seed=0)
    gap, grid = extract_banks(m, ext, splits, [(tmp_path / "gap", "gap", 2), (tmp_path / "grid", "grid", 4)],
                              {"ckpt": "abc"}, batch_size=4, progress=False)
    # one forward pass per (batch, t): 18 images x 3 timesteps, no extra pass (e.g. to size the files)
    assert count.images == 18 * 3 and len(count.calls) == (3 + 1 + 1) * 3
    assert gap.meta["settings"]["pool"] == "gap" and grid.meta["settings"]["pool"] == "grid"
    assert grid.maps(("down.0", 20)).shape == (18, 8, 4, 4) and gap[("down.0", 20)].shape == (18, 8)
    # independent reference: the single-pool extractor on the raw batch, and the math of pooling
    for key in ext.keys:
        ref_gap = ext(splits["val"].x, splits["val"].ids)[key].numpy()
        np.testing.assert_allclose(gap[key][gap.mask("val")], ref_gap, rtol=0, atol=1e-6)
        gext = FeatureExtractor(m, DIFF, blocks=[key[0]], timesteps=[key[1]], pool="grid", grid=4, seed=0)
        ref_grid = gext(splits["test"].x, splits["test"].ids)[key].flatten(1).numpy()
        np.testing.assert_allclose(grid[key][grid.mask("test")], ref_grid, rtol=0, atol=1e-6)
        # 16^2 and 8^2 maps split evenly into 4x4 cells: the mean of the cells is the global average
        np.testing.assert_allclose(grid.maps(key).mean(axis=(2, 3)), gap[key], rtol=0, atol=1e-5)


def test_superset_bank_is_reused_for_a_subset(tmp_path):
    m, splits = unet(), _splits()
    ext = FeatureExtractor(m, DIFF, blocks=["down.0", "mid", "up.1"], timesteps=[0, 20, 40], pool="grid", grid=2)
    full = extract_bank(m, ext, splits, tmp_path / "bank", {"ckpt": "abc"}, batch_size=5, progress=False)
    stamp = (tmp_path / "bank" / "meta.json").stat().st_mtime_ns
    count = Counter(m)
    sub = FeatureExtractor(m, DIFF, blocks=["up.1", "mid"], timesteps=[40], pool="grid", grid=2)
    view = extract_bank(m, sub, splits, tmp_path / "bank", {"ckpt": "abc"}, progress=False)
    assert count.calls == [] and (tmp_path / "bank" / "meta.json").stat().st_mtime_ns == stamp
    assert view.blocks == ["mid", "up.1"] and view.timesteps == [40] and len(view) == 2
    assert list(view) == [("mid", 40), ("up.1", 40)]
    with pytest.raises(KeyError):
        view[("down.0", 40)]
    np.testing.assert_array_equal(view[("mid", 40)], full[("mid", 40)])
    # the view is named by what it holds: the key a fresh subset bank would have
    fresh = extract_bank(m, sub, splits, tmp_path / "fresh", {"ckpt": "abc"}, progress=False)
    assert view.meta["key"] == fresh.meta["key"] != full.meta["key"]
    np.testing.assert_allclose(view[("up.1", 40)], fresh[("up.1", 40)], rtol=0, atol=1e-6)
    # other settings than the keys: not reused
    for other, settings in ((FeatureExtractor(m, DIFF, blocks=["mid"], timesteps=[40], pool="grid", grid=2,
                                              seed=3), {"ckpt": "abc"}),
                            (FeatureExtractor(m, DIFF, blocks=["mid"], timesteps=[40], pool="grid", grid=4),
                             {"ckpt": "abc"}),
                            (sub, {"ckpt": "other"})):
        ids = [i for s in ("train", "val", "test") for i in splits[s].ids]
        assert covering_bank(tmp_path / "bank", bank_settings(settings, other, ids)) is None
    # a key the bank lacks: rebuilt
    count.calls.clear()
    more = FeatureExtractor(m, DIFF, blocks=["mid"], timesteps=[10], pool="grid", grid=2)
    rebuilt = extract_bank(m, more, splits, tmp_path / "bank", {"ckpt": "abc"}, progress=False)
    assert count.images == 18 and rebuilt.timesteps == [10]


def test_gap_bank_ignores_the_grid_setting(tmp_path):
    """``grid`` is part of the settings only for pool=grid: a gap bank is reused whatever ``grid`` says."""
    m, splits = unet(), _splits()
    ext = FeatureExtractor(m, DIFF, blocks=["mid"], timesteps=[0], pool="gap", grid=2)
    extract_bank(m, ext, splits, tmp_path / "bank", {"ckpt": "abc"}, progress=False)
    count = Counter(m)
    extract_bank(m, FeatureExtractor(m, DIFF, blocks=["mid"], timesteps=[0], pool="gap", grid=7), splits,
                 tmp_path / "bank", {"ckpt": "abc"}, progress=False)
    assert count.calls == []
    extract_bank(m, FeatureExtractor(m, DIFF, blocks=["mid"], timesteps=[0], pool="avgmax"), splits,
                 tmp_path / "bank", {"ckpt": "abc"}, progress=False)
    assert count.images == 18


# -- the pipeline ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    from test_pipeline import cfg_for

    from medfx.workflows.pipeline import run_pipeline

    tmp = tmp_path_factory.mktemp("onepass")
    data = make_npz(tmp / "toy.npz")
    run = run_pipeline(cfg_for(data, tmp, "run.name=ddpm", "pipeline.stages=['pretrain']"), progress=False)
    return data, run / "ddpm" / "last.pt"


def _count_backbone(monkeypatch):
    """Count the (images, t) of every ``forward_blocks`` call of any backbone the pipeline loads."""
    import medfx.models.checkpoint as ck
    import medfx.workflows.features as wf
    import medfx.workflows.pipeline as wp

    counters = []
    real = ck.load_backbone

    def load(*a, **k):
        model, obj = real(*a, **k)
        counters.append(Counter(model))
        return model, obj

    for mod in (ck, wf, wp):  # every module that binds load_backbone at import
        monkeypatch.setattr(mod, "load_backbone", load)
    return counters


def _cfg(data, out, ckpt, name, *extra):
    from test_pipeline import cfg_for

    return cfg_for(data, out, f"run.name={name}", f"pipeline.checkpoint={ckpt}", "heads.seeds=[0]", "heads.epochs=1",
                   "features.timesteps=[0,20,40]", "pipeline.stages=['extract','probe','gaussianity','heads']",
                   *extra)


@pytest.mark.slow
def test_pipeline_extracts_once_per_image_and_t(tiny_ckpt, tmp_path, monkeypatch):
    from medfx.workflows.pipeline import run_pipeline

    data, ckpt = tiny_ckpt
    counters = _count_backbone(monkeypatch)
    run = run_pipeline(_cfg(data, tmp_path, ckpt, "one", "heads.methods=['linear_best','cats','dcube']"),
                       progress=False)
    n = 24 + 8 + 8
    assert sum(c.images for c in counters) == n * 3  # gap bank + grid maps of every key: one pass
    per = {}
    for c in counters:
        for b, t in c.calls:
            per[t] = per.get(t, 0) + b
    assert per == {0: n, 20: n, 40: n}
    grid = FeatureBank(run / "features_grid")
    assert len(grid) == len(FeatureBank(run / "features"))  # every (block, t): any can be chosen later
    # a later subset of methods (here D-Cube alone, other CATS inputs) re-extracts nothing
    counters.clear()
    run_pipeline(_cfg(data, tmp_path, ckpt, "one", "heads.methods=['dcube']"), progress=False)
    run_pipeline(_cfg(data, tmp_path, ckpt, "one", "heads.methods=['cats']", "heads.cats_inputs=1"),
                 progress=False)
    assert sum(c.images for c in counters) == 0


@pytest.mark.slow
def test_one_pass_gives_the_same_selection_and_heads(tiny_ckpt, tmp_path):
    """Against the former two-pass order (pooled bank first; grid bank of the chosen keys when the heads
    run): the same probe cell, KS selection, head inputs and CATS metrics."""
    from medfx.workflows.pipeline import run_pipeline

    data, ckpt = tiny_ckpt
    heads = "heads.methods=['linear_best','cats']"
    one = run_pipeline(_cfg(data, tmp_path, ckpt, "one", heads), progress=False)
    two = tmp_path / "two"
    run_pipeline(_cfg(data, tmp_path, ckpt, "two", heads, "pipeline.stages=['extract','probe','gaussianity']"),
                 progress=False)
    assert not (two / "features_grid").exists()
    run_pipeline(_cfg(data, tmp_path, ckpt, "two", heads), progress=False)
    g1, g2 = FeatureBank(one / "features_grid"), FeatureBank(two / "features_grid")
    assert len(g2) < len(g1)  # the two-pass order extracted only the chosen keys
    for key in g2:
        np.testing.assert_allclose(g1[key], g2[key], rtol=0, atol=1e-6)
    b1, b2 = (json.loads((r / "probe" / "best.json").read_text()) for r in (one, two))
    assert (b1["block"], b1["t"]) == (b2["block"], b2["t"])
    s1, s2 = (json.loads((r / "gaussianity" / "selection.json").read_text()) for r in (one, two))
    assert s1["selected"] == s2["selected"]
    r1, r2 = (json.loads((r / "results.json").read_text()) for r in (one, two))
    assert r1["inputs"] == r2["inputs"]
    for m in ("auc", "acc"):
        assert r1["methods"]["cats"]["summary"][m] == pytest.approx(r2["methods"]["cats"]["summary"][m], abs=1e-6)
