"""``medfx.sklearn.DiffusionFeatures`` in scikit-learn pipelines, on real built-in data, 2D and 3D."""

import numpy as np
import pytest
import torch

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from medfx.sklearn import DiffusionFeatures  # noqa: E402

FAST = ["train.steps=3", "train.ckpt_every=3", "train.sample_every=0", "train.num_samples=1",
        "train.sample_steps=2", "train.precision=fp32", "run.device=cpu"]


def _train(tmp, name, overrides):
    from medfx.config import load_config
    from medfx.train import train_diffusion

    cfg = load_config(None, overrides + FAST + [f"run.out_dir={tmp}", f"run.name={name}"])
    return train_diffusion(cfg).checkpoint


@pytest.fixture(scope="module")
def ckpt2d(tmp_path_factory):
    # the tiny U-Net on PneumoniaMNIST at its native 28x28 (so raw uint8 arrays from the npz fit as they are)
    return _train(tmp_path_factory.mktemp("sk2d"), "tiny2d", ["preset=tiny", "data.size=null", "train.batch_size=8"])


@pytest.fixture(scope="module")
def ckpt3d(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("sk3d"), "tiny3d", ["preset=tiny-3d", "train.batch_size=2"])


def _pneumonia(n_train=60, n_test=40):
    from importlib.resources import files

    d = np.load(str(files("medfx") / "datasets" / "pneumoniamnist.npz"))
    rng = np.random.default_rng(0)

    def pick(split, n):
        x, y = d[f"{split}_images"], d[f"{split}_labels"].ravel()
        idx = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:n // 2] for c in (0, 1)])
        return x[idx], y[idx]

    return pick("train", n_train), pick("test", n_test)


def test_pipeline_gridsearch_2d_real_data(ckpt2d):
    (xtr, ytr), (xte, yte) = _pneumonia()
    assert xtr.dtype == np.uint8 and xtr.shape[1:] == (28, 28)
    pipe = Pipeline([("feat", DiffusionFeatures(ckpt2d, blocks=["mid"], timesteps=[10], input_range=(0, 255),
                                                batch_size=64)),
                     ("scale", StandardScaler()), ("lr", LogisticRegression(max_iter=500))])
    search = GridSearchCV(pipe, {"lr__C": [0.01, 1.0]}, cv=2, scoring="roc_auc").fit(xtr, ytr)
    assert search.best_params_["lr__C"] in (0.01, 1.0) and len(search.cv_results_["mean_test_score"]) == 2
    proba = search.predict_proba(xte)[:, 1]
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(yte, proba)
    assert auc > 0.6, auc  # 3 DDPM steps, but diffusion features of real chest X-rays still separate the classes
    feat = search.best_estimator_.named_steps["feat"]
    names = feat.get_feature_names_out()
    assert len(names) == feat.n_features_out_ == feat.transform(xte[:2]).shape[1]
    assert feat.precision_decision_.name == "fp32" or feat.precision == "auto"


def test_features_match_extractor_and_are_order_independent(ckpt2d):
    from medfx.models import build_backbone  # noqa: F401  (the backbone below comes from the checkpoint)

    (x, _), _ = _pneumonia(20, 2)
    f = DiffusionFeatures(ckpt2d, blocks=None, timesteps=[0, 20], input_range=(0, 255), batch_size=7,
                          precision="fp32").fit()
    out = f.transform(x)
    assert out.shape == (20, f.n_features_out_) and out.dtype == np.float32
    # every backbone block at both timesteps, one column per channel (gap), named block|t|dim
    info = {b.name: b.channels for b in f.model_.feature_info}
    assert f.blocks_ == list(info) and f.n_features_out_ == 2 * sum(info.values())
    names = f.get_feature_names_out()
    first = f.blocks_[0]
    assert names[0] == f"{first}|0|0" and names[info[first]] == f"{first}|20|0"
    # rows do not depend on order, batch size or the other images
    perm = np.random.default_rng(1).permutation(20)
    np.testing.assert_allclose(f.transform(x[perm]), out[perm], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(clone(f).set_params(batch_size=20).fit().transform(x[:3]), out[:3],
                               rtol=1e-5, atol=1e-6)
    # the same input three ways: uint8 + (0, 255), floats already in [-1, 1], a torch tensor [N, 1, H, W]
    scaled = x.astype(np.float32) / 255 * 2 - 1
    np.testing.assert_allclose(clone(f).set_params(input_range="model").fit().transform(scaled), out, atol=1e-5)
    np.testing.assert_allclose(f.transform(torch.from_numpy(x)[:, None]), out, atol=1e-6)
    # gap of a block at t=0 against a hand-made forward pass of the frozen backbone with the same noise
    ext = f.extractor_
    xt = torch.from_numpy(scaled[:2])[:, None]
    ids = f._image_ids(xt)
    eps = ext.noise(xt, ids, 0)
    tt = torch.zeros(2, dtype=torch.long)
    with torch.no_grad():
        _, feats = f.model_.forward_intermediates(ext.process.add_noise(xt, eps, tt), tt)
    ref = feats[first].float().mean(dim=(2, 3))
    np.testing.assert_allclose(out[:2, :info[first]], ref.numpy(), rtol=1e-4, atol=1e-5)


def test_paths_go_through_medfx_data_loading(ckpt2d, tmp_path):
    from PIL import Image

    (x, _), _ = _pneumonia(6, 2)
    paths = []
    for i, img in enumerate(x):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(img).save(p)
        paths.append(str(p))
    f = DiffusionFeatures(ckpt2d, timesteps=[10], precision="fp32", input_range="minmax").fit()
    np.testing.assert_allclose(f.transform(paths), f.transform(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(FileNotFoundError, match="nope.png"):
        f.transform(paths[:2] + [str(tmp_path / "nope.png")])


def test_bad_inputs_give_clear_errors(ckpt2d, tmp_path):
    (x, _), _ = _pneumonia(4, 2)
    with pytest.raises(NotFittedError):
        DiffusionFeatures(ckpt2d).transform(x)
    f = DiffusionFeatures(ckpt2d, timesteps=[10], precision="fp32").fit()
    with pytest.raises(ValueError, match=r"integer array.*input_range=\(0, 255\)"):
        f.transform(x)  # uint8 0..255 is never taken for model-range floats
    with pytest.raises(ValueError, match=r"values in \[\d+, \d+\], outside the model's data range"):
        f.transform(x.astype(np.float32))
    with pytest.raises(ValueError, match="size 32x32 but the checkpoint was trained on 28x28"):
        f.transform(np.zeros((2, 32, 32), np.float32))
    with pytest.raises(ValueError, match=r"shape \(2, 3, 28, 28\); this 2D checkpoint takes arrays of shape"):
        f.transform(np.zeros((2, 3, 28, 28), np.float32))
    with pytest.raises(ValueError, match="NaN or Inf"):
        f.transform(np.full((1, 28, 28), np.nan, np.float32))
    with pytest.raises(ValueError, match=r"outside input_range"):
        clone(f).set_params(input_range=(0, 1)).fit().transform(x.astype(np.float32))
    with pytest.raises(ValueError, match=r"timesteps \[500\] are outside \[0, 100\)"):
        DiffusionFeatures(ckpt2d, timesteps=[500]).fit()
    with pytest.raises(ValueError, match="unknown block .nope.; valid blocks: down.0"):
        DiffusionFeatures(ckpt2d, blocks=["nope"]).fit()
    with pytest.raises(ValueError, match="input_range must be"):
        DiffusionFeatures(ckpt2d, input_range="0-255").fit()
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        DiffusionFeatures(tmp_path / "missing.pt").fit()
    with pytest.raises(ValueError, match="X has shape"):
        DiffusionFeatures(ckpt2d).fit(np.zeros((2, 28, 28, 28), np.float32))


def _adrenal(n):
    from medfx.data import DataConfig, load_splits

    tr = load_splits(DataConfig(path="builtin:adrenalmnist3d", size=(16, 16, 16), max_per_split=n))["train"]
    return torch.stack([tr[i][0] for i in range(len(tr))]), np.asarray(tr.labels)  # [N, 1, 16, 16, 16] in [-1, 1]


def test_transform_3d(ckpt3d):
    x, _ = _adrenal(4)
    f = DiffusionFeatures(ckpt3d, blocks=["mid", "up.1"], timesteps=[0, 10], precision="fp32").fit(x)
    out = f.transform(x)
    assert out.shape == (len(x), f.n_features_out_) and f.spatial_dims_ == 3 and f.image_shape_ == (1, 16, 16, 16)
    np.testing.assert_allclose(f.transform(x[:, 0].numpy())[:2], out[:2], atol=1e-6)  # [N, D, H, W], a subset
    assert list(f.get_feature_names_out()[:2]) == ["mid|0|0", "mid|0|1"]
    with pytest.raises(ValueError, match="this 3D checkpoint takes"):
        f.transform(np.zeros((2, 16, 16), np.float32))
    with pytest.raises(ValueError, match="size 8x8x8 but the checkpoint was trained on 16x16x16"):
        f.transform(np.zeros((2, 8, 8, 8), np.float32))


@pytest.mark.slow
def test_pipeline_gridsearch_3d(ckpt3d):
    from medfx.data import DataConfig, load_splits

    splits = load_splits(DataConfig(path="builtin:adrenalmnist3d", size=(16, 16, 16), max_per_split=20))
    tr = splits["train"]
    x = torch.stack([tr[i][0] for i in range(len(tr))])  # [N, 1, 16, 16, 16] in [-1, 1]
    y = np.asarray(tr.labels)
    pipe = Pipeline([("feat", DiffusionFeatures(ckpt3d, blocks=["mid"], timesteps=[10], batch_size=16,
                                                precision="fp32")),
                     ("scale", StandardScaler()), ("lr", LogisticRegression(max_iter=500))])
    search = GridSearchCV(pipe, {"lr__C": [0.1, 1.0]}, cv=2).fit(x.numpy(), y)
    feat = search.best_estimator_.named_steps["feat"]
    assert feat.spatial_dims_ == 3 and feat.image_shape_ == (1, 16, 16, 16)
    assert search.predict(x[:, 0].numpy()).shape == (len(y),)  # [N, D, H, W] works too
    with pytest.raises(ValueError, match="this 3D checkpoint takes"):
        feat.transform(np.zeros((2, 16, 16), np.float32))


def test_sklearn_estimator_checks_that_apply(ckpt2d):
    """The scikit-learn API checks that apply to an image transformer with a required checkpoint argument.

    Not run (they feed 2D tabular data [n_samples, n_features] from make_blobs/iris, which is not an image batch
    of the checkpoint's size): check_estimator as a whole, check_transformer_general, check_fit2d_*, check_fit1d,
    check_n_features_in*, check_estimators_dtypes, check_methods_*_invariance, check_dtype_object,
    check_estimators_nan_inf, check_estimators_empty_data_messages, check_transformer_data_not_an_array,
    check_set_output_transform*, check_transformer_preserve_dtypes (the output is always float32), and
    check_parameters_default_constructible (``checkpoint`` has no sensible default). Row-order and subset
    invariance, which several of those checks test, are tested on images above."""
    from sklearn.utils import estimator_checks as ec

    est = DiffusionFeatures(ckpt2d, timesteps=[10], precision="fp32")
    name = type(est).__name__
    for check in (ec.check_no_attributes_set_in_init, ec.check_get_params_invariance, ec.check_set_params,
                  ec.check_estimator_cloneable, ec.check_estimator_repr,
                  ec.check_do_not_raise_errors_in_init_or_set_params, ec.check_estimator_tags_renamed,
                  ec.check_valid_tag_types, ec.check_mixin_order):
        check(name, clone(est))
    import pickle

    (x, _), _ = _pneumonia(4, 2)
    fitted = est.fit(x, None)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(again.transform(x.astype(np.float32) / 255 * 2 - 1),
                               fitted.transform(x.astype(np.float32) / 255 * 2 - 1), atol=1e-6)
    assert est.get_params()["checkpoint"] == ckpt2d  # params stored unchanged
