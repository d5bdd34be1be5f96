"""``DiffusionFeatures``: a scikit-learn transformer from images to block x timestep diffusion features.

``from medfx.sklearn import DiffusionFeatures``. It sits above ``features`` in the layering (it loads checkpoints
through ``models.checkpoint`` and runs the ``FeatureExtractor``), next to ``probes`` and ``heads``.

>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from sklearn.linear_model import LogisticRegression
>>> clf = make_pipeline(DiffusionFeatures("runs/demo/ddpm/last.pt", blocks=["mid"], timesteps=[10],
...                                       input_range="minmax"),
...                     StandardScaler(), LogisticRegression(max_iter=1000))
>>> clf.fit(X_train, y_train).score(X_test, y_test)  # doctest: +SKIP

``fit`` learns nothing from the data: it loads and checks the checkpoint and the settings (blocks against the
backbone, timesteps against its noise schedule) and, when given ``X``, checks its shape. ``transform`` runs
medfx's ``FeatureExtractor`` (one forward pass per timestep and batch) and returns ``[N, n_features]`` float32;
the columns are named ``block|t|dim`` by ``get_feature_names_out``.

Inputs (``X``):

* numpy arrays or torch tensors ``[N, H, W]`` / ``[N, 1, H, W]`` for a 2D checkpoint, ``[N, D, H, W]`` /
  ``[N, 1, D, H, W]`` for a 3D one; the spatial size must be the checkpoint's (resize first, or pass files).
  Intensities, ``input_range``:

  - ``"model"`` (default): already in the model's data range (the checkpoint's ``data.intensity_range``, e.g.
    [-1, 1]); integer arrays (e.g. uint8 0..255) and values outside the range are errors;
  - ``"minmax"``: each image is scaled on its own as medfx's data loading does (the checkpoint's
    ``data.intensity`` / ``percentiles`` into its range): raw images of any range;
  - ``(lo, hi)``: the input's value range, mapped linearly to the model's range (``(0, 255)`` for uint8);
    values outside ``(lo, hi)`` are errors.

* a list (or 1-D array) of file paths (PNG/JPEG/DICOM/NIfTI): read and preprocessed by medfx's data loading with
  the checkpoint's data settings (resizing to the checkpoint's size included); ``input_range`` does not apply.

The noise added at timestep t is seeded by ``seed`` and a hash of each preprocessed image (quantised to 12 bits of
the model's range), so the features of an image do not depend on batch size, order or which other images are
transformed with it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .data import DataConfig, DataError, FileDataset
from .data.transforms import scale_intensity
from .diffusion.schedule import DiffusionConfig
from .features.extractor import FeatureExtractor
from .models.checkpoint import load_backbone
from .utils.dataclass_io import from_dict
from .utils.runtime import resolve_device

_INPUT_RANGE_NAMES = ("model", "minmax")


def _is_path_list(X) -> bool:
    if isinstance(X, (str, Path)):
        return False
    if isinstance(X, np.ndarray):
        return X.ndim == 1 and X.dtype.kind in "OUS"
    return isinstance(X, (list, tuple)) and len(X) > 0 and all(isinstance(p, (str, Path)) for p in X)


class DiffusionFeatures(TransformerMixin, BaseEstimator):
    """Block x timestep features of a frozen medfx diffusion checkpoint, as a scikit-learn transformer.

    Parameters
    ----------
    checkpoint : str or Path
        A medfx diffusion checkpoint (``last.pt`` or ``model.safetensors``); the EMA weights are used.
    blocks : list of str or None
        Backbone block names (``medfx blocks CKPT`` lists them); None = every block.
    timesteps : sequence of int
        Diffusion timesteps in ``[0, T)`` of the checkpoint's schedule.
    pool : {"gap", "avgmax", "grid", "none"}
        How a block's feature map becomes a vector (``grid``: ``grid^d`` average-pooled cells, flattened).
    grid : int
        Cells per axis for ``pool="grid"``.
    batch_size : int
        Images per forward pass.
    device : str
        ``cpu``, ``cuda``, ``cuda:1``, ... or ``auto``.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Forward-pass precision; ``auto`` = bf16 where native and measured faster (``medfx env`` shows the pick).
    seed : int
        Noise seed.
    noise_draws : int
        Average the features over this many noise draws.
    input_range : "model", "minmax" or (lo, hi)
        How array/tensor intensities map to the model's data range (see the module docstring).

    Attributes (after ``fit``)
    --------------------------
    image_shape_ : tuple, ``[C, *spatial]`` the checkpoint expects;  spatial_dims_ : 2 or 3;
    n_features_in_ : pixels (voxels) per input image;  blocks_ , timesteps_ : the resolved lists;
    data_range_ : the model's intensity range;  feature_names_ : ``block|t|dim`` names;
    n_features_out_ : number of output columns;  model_ : the frozen backbone;  extractor_ : its FeatureExtractor.
    """

    def __init__(self, checkpoint, blocks=None, timesteps=(0, 10, 50), pool="gap", grid=2, batch_size=64,
                 device="cpu", precision="auto", seed=0, noise_draws=1, input_range="model"):
        self.checkpoint = checkpoint
        self.blocks = blocks
        self.timesteps = timesteps
        self.pool = pool
        self.grid = grid
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self.seed = seed
        self.noise_draws = noise_draws
        self.input_range = input_range

    # -- fit -------------------------------------------------------------------------------------------------
    def fit(self, X=None, y=None):
        """Load and check the checkpoint and settings; check ``X``'s shape when given. Learns nothing from data."""
        self._check_params()
        path = Path(self.checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: checkpoint not found")
        model, ckpt = load_backbone(path, ema=True, device=resolve_device(self.device))
        config = ckpt.get("config") or {}
        diffusion = from_dict(DiffusionConfig, config.get("diffusion") or {})
        data_cfg = from_dict(DataConfig, config.get("data") or {})
        self.image_shape_ = _checkpoint_image_shape(ckpt, data_cfg, path)
        from .models.autoencoder import latent_of_checkpoint

        # latent diffusion: images are encoded first; the extractor noises and reads the latents
        self.latent_ = latent_of_checkpoint(ckpt, path, device=resolve_device(self.device))
        if self.latent_ is not None:
            self.image_shape_ = tuple(int(s) for s in ckpt["extra"]["latent"]["image_shape"])
        self.spatial_dims_ = len(self.image_shape_) - 1
        self.n_features_in_ = int(np.prod(self.image_shape_))
        self.data_range_ = tuple(float(v) for v in data_cfg.intensity_range)
        self.data_config_ = data_cfg
        timesteps = [self.timesteps] if isinstance(self.timesteps, (int, np.integer)) else list(self.timesteps)
        try:
            ext = FeatureExtractor(model, diffusion, blocks=None if self.blocks is None else list(self.blocks),
                                   timesteps=[int(t) for t in timesteps], pool=self.pool, seed=self.seed,
                                   grid=self.grid, noise_draws=self.noise_draws, precision=self.precision)
        except (ValueError, KeyError) as e:
            raise ValueError(f"{path}: {e.args[0] if isinstance(e, KeyError) else e}") from None
        self.model_, self.extractor_ = model, ext
        self.blocks_, self.timesteps_ = list(ext.blocks), list(ext.timesteps)
        with torch.no_grad():  # output widths: one zero image through the extractor (fp32 here, no measuring)
            probe = FeatureExtractor(model, diffusion, blocks=self.blocks_, timesteps=self.timesteps_[:1],
                                     pool=self.pool, grid=self.grid, precision="fp32")
            zero = torch.zeros(1, *self.image_shape_)
            zero = zero if self.latent_ is None else self.latent_.encode(zero).cpu()
            widths = {b: int(np.prod(f.shape[1:])) for (b, _), f in probe(zero, ["shape"]).items()}
        self.feature_names_ = [f"{b}|{t}|{d}" for b in self.blocks_ for t in self.timesteps_
                               for d in range(widths[b])]
        self.n_features_out_ = len(self.feature_names_)
        self._widths = widths
        if X is not None:
            self._as_batch(X, check_only=True)
        return self

    def _check_params(self) -> None:
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        r = self.input_range
        if isinstance(r, str):
            if r not in _INPUT_RANGE_NAMES:
                raise ValueError(f"input_range must be 'model', 'minmax' or (lo, hi), got {r!r}")
        elif not (isinstance(r, (tuple, list)) and len(r) == 2 and float(r[0]) < float(r[1])):
            raise ValueError(f"input_range must be 'model', 'minmax' or (lo, hi) with lo < hi, got {r!r}")

    # -- input handling --------------------------------------------------------------------------------------
    def _as_batch(self, X, check_only: bool = False):
        """``X`` -> a float32 tensor ``[N, *image_shape_]`` in the model's data range (or a path dataset)."""
        if _is_path_list(X):
            return self._path_dataset([str(p) for p in X])
        if isinstance(X, (str, Path)):
            raise ValueError("X is a single path; pass a list of paths")
        kind = "tensor" if isinstance(X, torch.Tensor) else "array"
        x = X.detach().cpu() if isinstance(X, torch.Tensor) else np.asarray(X)
        if isinstance(x, np.ndarray) and x.dtype.kind not in "biuf":
            raise ValueError(f"X must be a numeric image array, a torch tensor or a list of file paths; got an "
                             f"array of dtype {x.dtype}")
        integer = (x.dtype.kind in "biu") if isinstance(x, np.ndarray) else not x.is_floating_point()
        x = torch.as_tensor(np.asarray(x, dtype=np.float32) if isinstance(x, np.ndarray) else x.float())
        c, spatial = self.image_shape_[0], tuple(self.image_shape_[1:])
        d = self.spatial_dims_
        if x.ndim == d + 1 and c == 1:
            x = x.unsqueeze(1)
        if x.ndim != d + 2 or x.shape[1] != c:
            want = f"[N, {', '.join(map(str, spatial))}] or [N, {c}, {', '.join(map(str, spatial))}]"
            raise ValueError(f"X has shape {tuple(x.shape)}; this {d}D checkpoint takes {kind}s of shape {want}")
        if tuple(x.shape[2:]) != spatial:
            raise ValueError(f"X has images of size {'x'.join(map(str, x.shape[2:]))} but the checkpoint was "
                             f"trained on {'x'.join(map(str, spatial))}; resize them first, or pass file paths "
                             f"(resized by medfx's data loading)")
        if x.shape[0] == 0:
            raise ValueError("X has no images")
        if not torch.isfinite(x).all():
            raise ValueError("X has NaN or Inf values")
        if check_only:
            return None
        return self._to_model_range(x, integer)

    def _to_model_range(self, x: torch.Tensor, integer: bool) -> torch.Tensor:
        lo, hi = self.data_range_
        r = self.input_range
        if isinstance(r, str) and r == "minmax":
            dc = self.data_config_
            flat = scale_intensity(x.flatten(1), dc.intensity, dc.percentiles, self.data_range_)
            return flat.view_as(x)
        if isinstance(r, str):  # "model": must already be in [lo, hi]
            if integer:
                raise ValueError(f"X is an integer array (values {x.min():.0f}..{x.max():.0f}); the model takes float "
                                 f"images in [{lo:g}, {hi:g}] (its data.intensity_range). Pass input_range=(0, 255) "
                                 f"for 8-bit images, or input_range='minmax' to scale each image as medfx's data "
                                 f"loading does")
            self._check_range(x, lo, hi, "the model's data range (data.intensity_range)")
            return x
        a, b = float(r[0]), float(r[1])
        self._check_range(x, a, b, "input_range")
        return lo + (x - a) * ((hi - lo) / (b - a))

    @staticmethod
    def _check_range(x: torch.Tensor, lo: float, hi: float, what: str) -> None:
        tol = 1e-3 * (hi - lo)
        xmin, xmax = float(x.min()), float(x.max())
        if xmin < lo - tol or xmax > hi + tol:
            raise ValueError(f"X has values in [{xmin:g}, {xmax:g}], outside {what} [{lo:g}, {hi:g}]; pass "
                             f"input_range=(lo, hi) with your data's range, or input_range='minmax' to scale each "
                             f"image as medfx's data loading does")

    def _path_dataset(self, paths: list[str]):
        missing = [p for p in paths if not Path(p).is_file()]
        if missing:
            raise FileNotFoundError(f"{missing[0]}: image file not found" +
                                    (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        from dataclasses import replace

        cfg = replace(self.data_config_, path=str(Path(paths[0]).parent), size=tuple(self.image_shape_[1:]))
        ds = FileDataset([Path(p) for p in paths], cfg, source="paths", spatial_dims=self.spatial_dims_,
                         class_names=[], labels=np.full(len(paths), -1), ids=list(paths), subjects=None,
                         image_size=tuple(self.image_shape_[1:]))
        try:
            return torch.stack([ds[i][0] for i in range(len(ds))])
        except DataError as e:
            raise ValueError(str(e)) from None

    # -- transform -------------------------------------------------------------------------------------------
    def transform(self, X):
        """Features ``[N, n_features_out_]`` float32, columns in ``get_feature_names_out()`` order."""
        check_is_fitted(self, "extractor_")
        x = self._as_batch(X)
        ids = self._image_ids(x)
        out = np.empty((x.shape[0], self.n_features_out_), dtype=np.float32)
        for i in range(0, x.shape[0], self.batch_size):
            xb = x[i:i + self.batch_size]
            xb = xb if self.latent_ is None else self.latent_.encode(xb)
            feats = self.extractor_(xb, ids[i:i + self.batch_size])
            cols = [feats[(b, t)].flatten(1) for b in self.blocks_ for t in self.timesteps_]
            out[i:i + self.batch_size] = torch.cat(cols, 1).cpu().numpy()
        return out

    def _image_ids(self, x: torch.Tensor) -> list[str]:
        """Noise ids: a hash of each image quantised to 12 bits of the model's range (so rounding differences
        between equivalent inputs, e.g. uint8 with (0, 255) vs floats already scaled, give the same noise)."""
        lo, hi = self.data_range_
        q = torch.round((x.double() - lo) * (4095.0 / (hi - lo))).to(torch.int16).numpy()
        return [hashlib.sha1(img.tobytes()).hexdigest()[:16] for img in q]

    def get_feature_names_out(self, input_features=None):
        """``block|t|dim`` for every output column."""
        check_is_fitted(self, "feature_names_")
        return np.asarray(self.feature_names_, dtype=object)

    @property
    def precision_decision_(self):
        """The precision the forward passes use and why (resolved at the first ``transform``)."""
        check_is_fitted(self, "extractor_")
        return self.extractor_.precision_decision

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True  # lists of file paths
        tags.requires_fit = True
        return tags


def _checkpoint_image_shape(ckpt: dict, data_cfg, path) -> tuple[int, ...]:
    """``[C, *spatial]`` the checkpoint was trained on: stored by medfx training, else the U-ViT's
    ``img_size`` or the checkpoint's ``data.size``."""
    spec = ckpt["backbone"]["config"]
    extra = ckpt.get("extra") or {}
    if extra.get("image_shape"):
        return tuple(int(s) for s in extra["image_shape"])
    channels = int(spec.get("in_channels", 1))
    if spec.get("img_size"):
        return (channels, *(int(s) for s in spec["img_size"]))
    if data_cfg.size is not None:
        return (channels, *data_cfg.size)
    raise ValueError(f"{path}: the checkpoint does not record its image size (no extra.image_shape, img_size "
                     f"or data.size)")
