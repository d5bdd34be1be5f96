"""Tests for medfx.metrics: classification metrics, plots, feature statistics, Fréchet distances, detectors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from medfx.metrics import (
    METRIC_NAMES,
    ClassifierDetector,
    DiffusionFeatureDetector,
    FeatureStats,
    InceptionDetector,
    RandomConvDetector,
    classification_metrics,
    compute_features,
    compute_stats,
    coverage,
    default_detector,
    fid,
    format_mean_sd,
    frechet_distance,
    frechet_distance_from_moments,
    plot_confusion,
    plot_roc,
    precision_recall,
)
from medfx.models.base import Backbone, BlockInfo


# -- classification metrics ------------------------------------------------------------------
def test_binary_metrics_hand_computed():
    y = np.array([0, 0, 0, 1, 1])
    p1 = np.array([0.2, 0.7, 0.6, 0.8, 0.3])  # predictions 0 1 1 1 0
    m = classification_metrics(y, np.stack([1 - p1, p1], 1))
    assert set(METRIC_NAMES) <= set(m)
    assert m["acc"] == pytest.approx(2 / 5)
    assert m["bacc"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert m["recall"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert m["precision"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert m["f1"] == pytest.approx(0.4)
    assert m["auc"] == pytest.approx(4 / 6)  # 0.8 beats all 3 negatives, 0.3 beats one
    assert m["confusion"] == [[1, 2], [1, 1]]
    assert m["n"] == 5


def test_three_class_metrics_hand_computed():
    y = torch.tensor([0, 1, 2, 2, 1, 0])
    proba = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.2, 0.6],
                          [0.5, 0.1, 0.4], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])
    m = classification_metrics(y, proba)
    assert m["acc"] == pytest.approx(4 / 6)
    assert m["confusion"] == [[2, 0, 0], [0, 1, 1], [1, 0, 1]]
    assert m["bacc"] == pytest.approx(2 / 3)
    assert m["precision"] == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)
    assert m["f1"] == pytest.approx((4 / 5 + 2 / 3 + 1 / 2) / 3)
    assert m["auc"] == pytest.approx((1 + 7.5 / 8 + 6.5 / 8) / 3)
    assert m["auc"] == pytest.approx(roc_auc_score(y.numpy(), proba.numpy(), multi_class="ovr"))


def test_missing_class_gives_nan_auc_without_crash():
    y = np.array([0, 1, 0, 1])
    proba = np.random.default_rng(0).dirichlet(np.ones(3), size=4)
    m = classification_metrics(y, proba, num_classes=3)
    assert math.isnan(m["auc"])
    assert 0 <= m["acc"] <= 1 and len(m["confusion"]) == 3 and m["confusion"][2] == [0, 0, 0]
    single = classification_metrics(np.array([1, 1, 1]), np.array([[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]]))
    assert math.isnan(single["auc"]) and single["acc"] == pytest.approx(2 / 3)


def test_metrics_input_validation():
    with pytest.raises(ValueError, match="0..1"):
        classification_metrics(np.array([0, 2]), np.ones((2, 2)) / 2)
    with pytest.raises(ValueError, match="num_classes=3"):
        classification_metrics(np.array([0, 1]), np.ones((2, 2)) / 2, num_classes=3)
    with pytest.raises(ValueError, match="rows of proba"):
        classification_metrics(np.array([0, 1, 1]), np.ones((2, 2)) / 2)


def test_format_mean_sd():
    assert format_mean_sd(0.91234, 0.0111) == "0.912 ± 0.011"
    assert format_mean_sd(float("nan"), 0.0) == "nan"


def _assert_png(path):
    assert path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_write_png(tmp_path):
    _assert_png(plot_confusion([[3, 1], [0, 4]], ["normal", "tumour"], tmp_path / "sub" / "cm.png", title="cm"))
    y = np.array([0, 0, 1, 1, 1, 0])
    p1 = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.2])
    _assert_png(plot_roc(y, np.stack([1 - p1, p1], 1), ["a", "b"], tmp_path / "roc2.png"))
    y3 = np.array([0, 1, 2, 2, 1, 0])
    p3 = np.random.default_rng(1).dirichlet(np.ones(3), size=6)
    _assert_png(plot_roc(y3, p3, ["a", "b", "c"], tmp_path / "roc3.png", title="ovr"))
    with pytest.raises(ValueError, match="class_names"):
        plot_confusion(np.eye(3), ["a", "b"], tmp_path / "bad.png")


# -- feature statistics and Fréchet distance ----------------------------------------------------
def test_feature_stats_batch_size_invariance_and_numpy_agreement(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 6)) * np.arange(1, 7) + 10.0
    results = []
    for bs in (1, 7, 50):
        st = FeatureStats()
        for i in range(0, 50, bs):
            st.update(x[i:i + bs])
        results.append(st)
        assert st.n == 50
        np.testing.assert_allclose(st.mean(), x.mean(0), rtol=1e-12)
        np.testing.assert_allclose(st.cov(), np.cov(x, rowvar=False), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(results[0].cov(), results[2].cov(), rtol=1e-10)
    from_tensor = FeatureStats().update(torch.from_numpy(x).float())
    np.testing.assert_allclose(from_tensor.mean(), x.mean(0), rtol=1e-5)
    st = results[1]
    st.detector = "randconv"
    loaded = FeatureStats.load(st.save(tmp_path / "stats" / "real.npz"))
    assert loaded.n == 50 and loaded.detector == "randconv"
    np.testing.assert_array_equal(loaded.cov(), st.cov())
    with pytest.raises(ValueError, match="5 dims, statistics have 6"):
        st.update(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="at least 2"):
        FeatureStats().update(np.zeros((1, 3))).cov()


def test_frechet_distance_identical_and_closed_form():
    x = np.random.default_rng(1).normal(size=(200, 5))
    st = FeatureStats().update(x)
    assert frechet_distance(st, st) == pytest.approx(0.0, abs=1e-8)
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, -1.0, 2.0])
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)  # 5 + 4 + 1
    assert frechet_distance_from_moments(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)
    assert expected == pytest.approx(10.0)


def test_frechet_distance_singular_covariance_warns():
    s1, s2 = np.diag([1.0, 0.0]), np.diag([0.0, 4.0])
    with pytest.warns(RuntimeWarning, match="singular"):
        value = frechet_distance_from_moments(np.zeros(2), s1, np.zeros(2), s2)
    assert value == pytest.approx(5.0, abs=1e-2)  # tr(s1) + tr(s2), sqrt(s1 s2) = 0


def test_frechet_distance_refuses_mixed_detectors():
    x = np.random.default_rng(2).normal(size=(20, 3))
    with pytest.raises(ValueError, match="different detectors"):
        frechet_distance(FeatureStats(detector="a").update(x), FeatureStats(detector="b").update(x))


def test_fd_rises_with_noise_level():
    torch.manual_seed(0)
    det = RandomConvDetector(spatial_dims=2, feature_dim=8, seed=0)
    real = torch.rand(128, 1, 16, 16) * 2 - 1
    real_stats = compute_stats(real, det, batch_size=50)
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(real.shape, generator=gen)
    values = [fid(real_stats, (real + s * noise).clamp(-1, 1), det) for s in (0.0, 0.1, 0.3, 1.0)]
    assert values[0] == pytest.approx(0.0, abs=1e-6)
    assert all(b > a for a, b in itertools.pairwise(values)), values
    assert det.fd_label == "FD_randconv2d-8-s0"


def test_compute_stats_accepts_iterables():
    det = RandomConvDetector(spatial_dims=2, feature_dim=4)
    x = torch.rand(10, 1, 8, 8) * 2 - 1
    loader = [(x[:3], torch.zeros(3)), (x[3:], torch.zeros(7))]
    a, b = compute_stats(x, det, batch_size=4), compute_stats(loader, det)
    assert a.n == b.n == 10 and a.detector == det.name
    np.testing.assert_allclose(a.cov(), b.cov(), rtol=1e-6, atol=1e-9)


def test_precision_recall_and_coverage():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(200, 4, generator=g)
    same = precision_recall(real, real, k=3)
    assert same == {"precision": 1.0, "recall": 1.0}
    assert coverage(real, real, k=3) == 1.0
    shifted = real + 2.0
    pr = precision_recall(real, shifted, k=3, chunk_size=64)
    assert pr["precision"] < 0.5 and pr["recall"] < 0.5
    assert coverage(real, shifted, k=3) < 0.5
    fresh = precision_recall(real.numpy(), torch.randn(200, 4, generator=g).numpy(), k=3)
    assert fresh["precision"] > 0.7 and fresh["recall"] > 0.7
    with pytest.raises(ValueError, match="k must be"):
        precision_recall(real[:3], real[:3], k=3)


# -- detectors -----------------------------------------------------------------------------
def test_inception_detector_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        InceptionDetector(tmp_path / "inception-2015-12-05.pt")
    bad = tmp_path / "state_dict.pt"
    torch.save({"w": torch.zeros(2)}, bad)
    with pytest.raises(ValueError, match="not the FID Inception-v3 weights"):
        InceptionDetector(bad)


def test_inception_detector_loads_a_plain_state_dict_into_medfx_network(tmp_path):
    from medfx.metrics.inception import FIDInceptionV3

    torch.manual_seed(0)
    ref = FIDInceptionV3().eval()
    for m in ref.modules():  # non-trivial BN statistics so a wrong key mapping changes the features
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    sd = {k: v for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
    sd["fc.weight"], sd["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)  # as in the published file
    path = tmp_path / "pt_inception.pth"
    torch.save(sd, path)
    det = InceptionDetector(path)
    assert det.fd_label == "FID" and not det.torchscript
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    f = det(x)
    assert f.shape == (2, 2048)
    # independent reference: the same preprocessing written out, through the reference network
    x255 = ((x.expand(-1, 3, -1, -1) + 1) * 127.5).clamp(0, 255).round()
    x299 = torch.nn.functional.interpolate(x255, size=(299, 299), mode="bicubic", align_corners=False,
                                           antialias=True).clamp(0, 255)
    with torch.no_grad():
        expected = ref(x299 / 127.5 - 1)
    torch.testing.assert_close(f, expected, rtol=1e-4, atol=1e-4)


class _InceptionStandIn(nn.Module):
    """Reports what it receives: [channels, height, width, min, max, return_features]."""

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        b = x.shape[0]
        info = torch.tensor([x.shape[1], x.shape[2], x.shape[3]], dtype=torch.float32).expand(b, 3)
        flat = x.flatten(1)
        flag = torch.full((b, 1), 1.0 if return_features else 0.0)
        return torch.cat([info, flat.min(1).values[:, None], flat.max(1).values[:, None], flag], 1)


class _PlainStandIn(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).mean(-1)[:, :, None, None]  # [B, 3, 1, 1] like a pool layer


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_inception_detector_with_torchscript_stand_in(tmp_path):
    path = tmp_path / "inception-stand-in.pt"
    torch.jit.save(torch.jit.script(_InceptionStandIn()), str(path))
    with pytest.raises(ValueError, match="TorchScript file, a program"):
        InceptionDetector(path, feature_dim=6)
    det = InceptionDetector(path, feature_dim=6, num_slices=4, allow_torchscript=True)
    assert det.fd_label == "FID"
    x = torch.zeros(2, 1, 28, 28)
    x[:, :, 0, 0], x[:, :, -1, -1] = -1.0, 1.0
    f = det(x)
    assert f.shape == (2, 6) and f.dtype == torch.float32
    np.testing.assert_allclose(f[:, :3].numpy(), [[3, 299, 299]] * 2)  # grey -> 3 channels, resized to 299
    assert f[:, 3].min() >= 0 and f[:, 4].max() <= 255 and f[0, 3] == 0 and f[0, 4] == 255
    assert (f[:, 5] == 1).all()  # return_features=True was passed

    # 3D: the 4 central slices along the last axis, features averaged per volume
    levels = torch.linspace(-1, 1, 10)
    vol = levels.view(1, 1, 1, 1, 10).expand(2, 1, 8, 8, 10).clone()
    f3 = det(vol)
    assert f3.shape == (2, 6)
    np.testing.assert_allclose(f3[:, :3].numpy(), [[3, 299, 299]] * 2)
    expected = ((levels[3:7] + 1) * 127.5).round().mean()
    assert f3[0, 3].item() == pytest.approx(expected.item(), abs=1e-3)

    plain = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(_PlainStandIn()), str(plain))
    fp = InceptionDetector(plain, feature_dim=3, allow_torchscript=True)(torch.ones(1, 3, 5, 5))
    np.testing.assert_allclose(fp.numpy(), [[255, 255, 255]], atol=1e-3)
    with pytest.raises(RuntimeError, match="expected"):
        InceptionDetector(plain, feature_dim=2048, allow_torchscript=True)(torch.ones(1, 1, 5, 5))


def test_random_conv_detector_2d_3d_deterministic_and_frozen():
    x2, x3 = torch.rand(3, 1, 12, 12), torch.rand(2, 1, 8, 8, 8)
    d2 = RandomConvDetector(2, feature_dim=10, seed=3)
    assert d2(x2).shape == (3, 10)
    assert torch.equal(d2(x2), RandomConvDetector(2, feature_dim=10, seed=3)(x2))
    assert not torch.allclose(d2(x2), RandomConvDetector(2, feature_dim=10, seed=4)(x2))
    assert RandomConvDetector(3, feature_dim=5)(x3).shape == (2, 5)
    d2.train()
    assert not d2.training
    with pytest.raises(ValueError, match="expects images"):
        d2(x3)


class _TinyBackbone(Backbone):
    """Stand-in for a medfx backbone: two conv blocks, records the timesteps it gets."""

    def __init__(self, spatial_dims: int = 2):
        super().__init__()
        conv = getattr(nn, f"Conv{spatial_dims}d")
        self.spatial_dims, self.num_classes = spatial_dims, None
        self.down = conv(1, 4, 3, padding=1)
        self.mid = conv(4, 8, 3, stride=2, padding=1)
        self.feature_info = [BlockInfo("down.0", 0, 4, (1,) * spatial_dims),
                             BlockInfo("mid", 1, 8, (2,) * spatial_dims)]
        self.last_t = None

    def _run(self, x, t, y, blocks, stop_early, reduce=None):
        self.last_t = t
        feats = {}
        h = self.down(x) + t.float().view(-1, *[1] * (x.ndim - 1))
        feats["down.0"] = h
        h = self.mid(h)
        feats["mid"] = h
        return None, {k: (reduce(k, v) if reduce else v) for k, v in feats.items() if k in blocks}


def test_diffusion_feature_detector_pools_blocks_in_given_order():
    bb = _TinyBackbone(3)
    det = DiffusionFeatureDetector(bb, ["mid", "down.0"], t=5)
    assert det.feature_dim == 12 and det.fd_label == "FD_diffusion-mid+down.0-t5"
    x = torch.rand(2, 1, 6, 6, 6)
    f = det(x)
    assert f.shape == (2, 12)
    assert torch.equal(bb.last_t, torch.tensor([5, 5]))
    ref = bb.forward_blocks(x, torch.full((2,), 5), blocks=["down.0", "mid"])
    torch.testing.assert_close(f[:, :8], ref["mid"].flatten(2).mean(-1))
    torch.testing.assert_close(f[:, 8:], ref["down.0"].flatten(2).mean(-1))


class _TokenBackbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 6)

    def forward_blocks(self, x, t, blocks=None, y=None):
        tokens = x.flatten(2).transpose(1, 2).reshape(x.shape[0], -1, 4)  # [B, N, 4]
        return {"in.0": self.proj(tokens)}


def test_diffusion_feature_detector_tokens_and_feature_dim_required():
    bb = _TokenBackbone()
    with pytest.raises(ValueError, match="feature_dim is required"):
        DiffusionFeatureDetector(bb, ["in.0"])
    det = DiffusionFeatureDetector(bb, "in.0", feature_dim=6)
    x = torch.rand(3, 1, 4, 4)
    tokens = bb.forward_blocks(x, None)["in.0"]
    torch.testing.assert_close(det(x), tokens.mean(1))


def test_classifier_detector_and_default_detector():
    model = nn.Sequential(nn.Conv2d(1, 5, 3), nn.ReLU(), nn.Conv2d(5, 2, 1))
    det = ClassifierDetector(model, lambda m, x: m[:2](x), feature_dim=5)
    assert det(torch.rand(4, 1, 8, 8)).shape == (4, 5) and det.fd_label == "FD_classifier"
    assert isinstance(default_detector(2), RandomConvDetector)
    dd = default_detector(2, backbone=_TinyBackbone(2))
    assert isinstance(dd, DiffusionFeatureDetector) and dd.blocks == ["mid"] and dd.feature_dim == 8
    feats = compute_features(torch.rand(5, 1, 8, 8), dd, batch_size=2)
    assert feats.shape == (5, 8)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_detectors_and_stats_on_gpu(tmp_path):
    x = torch.rand(20, 1, 16, 16) * 2 - 1
    cpu = compute_stats(x, RandomConvDetector(2, feature_dim=4), batch_size=8)
    gpu = compute_stats(x, RandomConvDetector(2, feature_dim=4).to("cuda"), batch_size=8)
    np.testing.assert_allclose(gpu.mean(), cpu.mean(), rtol=1e-4, atol=1e-5)
    det = DiffusionFeatureDetector(_TinyBackbone(2), ["mid"]).to("cuda")
    assert det(x.cuda()).device.type == "cuda"
    path = tmp_path / "stand-in.pt"
    torch.jit.save(torch.jit.script(_InceptionStandIn()), str(path))
    f = InceptionDetector(path, feature_dim=6, allow_torchscript=True).to("cuda")(x[:2])
    assert f.device.type == "cuda" and f.shape == (2, 6)
    pr = precision_recall(torch.randn(50, 3, device="cuda"), torch.randn(50, 3, device="cuda"))
    assert 0 <= pr["precision"] <= 1


@pytest.mark.parametrize("k", [2, 3, 5])
def test_argmax_metrics_match_sklearn(k):
    """The confusion-matrix implementation against scikit-learn's own functions, including classes that are
    absent from y_true, absent from the predictions, or both."""
    import warnings

    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        precision_score,
        recall_score,
    )

    rng = np.random.default_rng(k)
    for trial in range(40):
        n = int(rng.integers(1, 30))
        y = rng.integers(0, k, n)
        if trial % 4 == 1:
            y[y == k - 1] = 0  # a class missing from y_true
        proba = rng.random((n, k))
        if trial % 4 == 2:
            proba[:, 1] = -1  # a class never predicted
        pred = proba.argmax(1)
        m = classification_metrics(y, proba, num_classes=k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = {"acc": accuracy_score(y, pred), "bacc": balanced_accuracy_score(y, pred),
                   "precision": precision_score(y, pred, average="macro", zero_division=0),
                   "recall": recall_score(y, pred, average="macro", zero_division=0),
                   "f1": f1_score(y, pred, average="macro", zero_division=0)}
        for name, v in ref.items():
            assert m[name] == pytest.approx(v, abs=1e-12), (trial, name)
        assert m["confusion"] == confusion_matrix(y, pred, labels=list(range(k))).tolist()
