"""Fréchet distances, per-class FD and k-NN precision / recall / coverage on detector features.

Statistics are kept apart from the metric: :class:`FeatureStats` accumulates float64 sums and sums
of outer products over batches (so results do not depend on batch size), can be saved as reference
statistics, and :func:`frechet_distance` compares two of them. The distance is FID only for
:class:`~medfx.metrics.detectors.InceptionDetector`; report it under ``detector.fd_label``
(``"FID"`` or ``"FD_<name>"``).

Example::

    det = RandomConvDetector(spatial_dims=2)
    ref = compute_stats(real_images, det); ref.save("stats/real.npz")
    value = frechet_distance(compute_stats(fake_images, det), FeatureStats.load("stats/real.npz"))
    report = {det.fd_label: value}
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import scipy.linalg
import torch

from .detectors import Detector

logger = logging.getLogger(__name__)

__all__ = [
    "FeatureStats",
    "compute_features",
    "compute_stats",
    "coverage",
    "fid",
    "frechet_distance",
    "frechet_distance_from_moments",
    "precision_recall",
]


class FeatureStats:
    """Streaming mean / covariance of features ``[N, D]`` in float64.

    ``detector`` records the detector name; distances between statistics of different detectors
    are refused.
    """

    def __init__(self, dim: int | None = None, detector: str | None = None):
        self.dim = dim
        self.detector = detector
        self.n = 0
        self._sum: np.ndarray | None = None
        self._sum_outer: np.ndarray | None = None
        if dim is not None:
            self._alloc(dim)

    def _alloc(self, dim: int) -> None:
        self.dim = int(dim)
        self._sum = np.zeros(dim, dtype=np.float64)
        self._sum_outer = np.zeros((dim, dim), dtype=np.float64)

    def update(self, features: np.ndarray | torch.Tensor) -> FeatureStats:
        """Add a batch ``[N, D]``; the products are formed in float64 (on the tensor's device)."""
        if features.ndim != 2:
            raise ValueError(f"features must have shape [N, D], got {tuple(features.shape)}")
        if self._sum is None:
            self._alloc(features.shape[1])
        if features.shape[1] != self.dim:
            raise ValueError(f"features have {features.shape[1]} dims, statistics have {self.dim}")
        if isinstance(features, torch.Tensor):
            x = features.detach().to(torch.float64)
            s, so = x.sum(0).cpu().numpy(), (x.T @ x).cpu().numpy()
        else:
            x = np.asarray(features, dtype=np.float64)
            s, so = x.sum(0), x.T @ x
        if not (np.isfinite(s).all() and np.isfinite(so).all()):
            raise ValueError("features contain NaN or inf")
        self._sum += s
        self._sum_outer += so
        self.n += int(features.shape[0])
        return self

    def _check_nonempty(self, need: int) -> None:
        if self.n < need:
            raise ValueError(f"need at least {need} samples, statistics hold {self.n}")

    def mean(self) -> np.ndarray:
        self._check_nonempty(1)
        return self._sum / self.n

    def cov(self) -> np.ndarray:
        """Unbiased covariance ``[D, D]`` (needs n >= 2)."""
        self._check_nonempty(2)
        mu = self.mean()
        c = (self._sum_outer - self.n * np.outer(mu, mu)) / (self.n - 1)
        return (c + c.T) / 2

    def save(self, path) -> Path:
        """Write ``n``, sums, ``mu`` and ``sigma`` (for other tools) and the detector name to ``.npz``."""
        self._check_nonempty(1)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        extra = {"mu": self.mean(), "sigma": self.cov()} if self.n >= 2 else {}
        np.savez(path, n=np.int64(self.n), sum=self._sum, sum_outer=self._sum_outer,
                 detector=np.str_(self.detector or ""), **extra)
        return path

    @classmethod
    def load(cls, path) -> FeatureStats:
        with np.load(Path(path), allow_pickle=False) as f:
            for key in ("n", "sum", "sum_outer"):
                if key not in f:
                    raise ValueError(f"{str(path)!r} is not a FeatureStats file (missing {key!r})")
            detector = str(f["detector"]) if "detector" in f else ""
            stats = cls(dim=f["sum"].shape[0], detector=detector or None)
            stats.n = int(f["n"])
            stats._sum[:] = f["sum"]
            stats._sum_outer[:] = f["sum_outer"]
        return stats

    def __repr__(self) -> str:
        return f"FeatureStats(n={self.n}, dim={self.dim}, detector={self.detector!r})"


# -- Fréchet distance ----------------------------------------------------------------------
def _sqrtm_product(s1: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, bool]:
    """``sqrtm(s1 @ s2)`` and whether it is trustworthy (finite, no singular warning, tiny imaginary part)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        root = scipy.linalg.sqrtm(s1 @ s2)
    ok = np.isfinite(root).all() and not any("singular" in str(w.message).lower() for w in caught)
    if np.iscomplexobj(root):
        scale = max(1.0, float(np.abs(root.real).max()))
        if np.abs(root.imag).max() > 1e-3 * scale:
            ok = False
        root = root.real
    return root, ok


def frechet_distance_from_moments(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """``|mu1 - mu2|^2 + tr(s1 + s2 - 2 sqrt(s1 s2))`` for two Gaussians.

    If ``sqrt(s1 s2)`` is ill-defined (singular covariances, e.g. fewer samples than dimensions),
    ``eps * I`` is added to both covariances, with a warning.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"shape mismatch: mu1 {mu1.shape}, sigma1 {s1.shape}, mu2 {mu2.shape}, sigma2 {s2.shape}")
    root, ok = _sqrtm_product(s1, s2)
    if not ok:
        warnings.warn(f"covariance product is singular or ill-conditioned; adding {eps:g} * I to both "
                      "covariances (more samples than feature dimensions avoid this)", RuntimeWarning, stacklevel=2)
        offset = eps * np.eye(d)
        root, ok = _sqrtm_product(s1 + offset, s2 + offset)
        if not ok:
            raise ValueError("sqrtm(sigma1 @ sigma2) has a large imaginary part even after regularisation")
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(root))
    return max(value, 0.0)  # tiny negative values are round-off


def frechet_distance(stats_a: FeatureStats, stats_b: FeatureStats, eps: float = 1e-6) -> float:
    """Fréchet distance between two :class:`FeatureStats` (same detector, same dimension)."""
    if stats_a.detector and stats_b.detector and stats_a.detector != stats_b.detector:
        raise ValueError(f"statistics come from different detectors: {stats_a.detector!r} vs {stats_b.detector!r}")
    if stats_a.dim != stats_b.dim:
        raise ValueError(f"feature dimensions differ: {stats_a.dim} vs {stats_b.dim}")
    for s in (stats_a, stats_b):
        if s.n < 2:
            raise ValueError(f"need at least 2 samples per set, got {s.n}")
        if s.n <= s.dim:
            logger.warning("only %d samples for %d feature dimensions: the covariance is singular and the "
                           "Fréchet distance strongly biased", s.n, s.dim)
    return frechet_distance_from_moments(stats_a.mean(), stats_a.cov(), stats_b.mean(), stats_b.cov(), eps=eps)


# -- features from images --------------------------------------------------------------------
def _batches(images, batch_size: int) -> Iterable[torch.Tensor]:
    """A tensor / array ``[N, C, *spatial]`` in chunks, or an iterable of batches or ``(images, ...)`` tuples."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if isinstance(images, torch.Tensor):
        yield from images.split(batch_size)
        return
    for batch in images:
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        elif isinstance(batch, dict):
            batch = batch["image"]
        yield torch.as_tensor(batch)


def compute_features(images, detector: Detector, batch_size: int = 64) -> torch.Tensor:
    """Detector features ``[N, D]`` (float32, CPU) of all images, in order."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    feats = [detector(b).cpu() for b in _batches(images, batch_size)]
    if not feats:
        raise ValueError("no images given")
    return torch.cat(feats)


def compute_stats(images, detector: Detector, batch_size: int = 64) -> FeatureStats:
    """Stream images (tensor ``[N, C, *spatial]`` in ``[-1, 1]``, or an iterable of batches) into statistics."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    stats = FeatureStats(dim=detector.feature_dim, detector=detector.name)
    for batch in _batches(images, batch_size):
        stats.update(detector(batch))
    if stats.n == 0:
        raise ValueError("no images given")
    return stats


def _as_stats(x, detector: Detector, batch_size: int) -> FeatureStats:
    return x if isinstance(x, FeatureStats) else compute_stats(x, detector, batch_size)


def fid(real, fake, detector: Detector, batch_size: int = 64) -> float:
    """Fréchet distance between real and fake images (either may be precomputed :class:`FeatureStats`).

    Report it as ``{detector.fd_label: value}``: "FID" only for the Inception detector.
    """
    return frechet_distance(_as_stats(real, detector, batch_size), _as_stats(fake, detector, batch_size))


# -- k-NN manifold precision / recall / coverage ------------------------------------------------
def _as_float64(x, device=None) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim != 2:
        raise ValueError(f"features must have shape [N, D], got {tuple(t.shape)}")
    return t.detach().to(device=device if device is not None else t.device, dtype=torch.float64)


def _knn_radii(x: torch.Tensor, k: int, chunk_size: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row."""
    if not 1 <= k < x.shape[0]:
        raise ValueError(f"k must be in 1..{x.shape[0] - 1} for {x.shape[0]} samples, got {k}")
    radii = [torch.cdist(c, x).topk(k + 1, dim=1, largest=False).values[:, k] for c in x.split(chunk_size)]
    return torch.cat(radii)


def _covered(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """For each query: does it lie inside some ball (centre, radius)? ``[Nq]`` bool."""
    return torch.cat([(torch.cdist(q, centres) <= radii[None]).any(1) for q in queries.split(chunk_size)])


def precision_recall(real_feats, fake_feats, k: int = 3, chunk_size: int = 1024) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019) from k-NN balls in feature space.

    precision: fraction of fake samples inside the real manifold (union of balls around real samples,
    radius = distance to the k-th nearest real neighbour); recall: the converse.
    """
    real, fake = _as_float64(real_feats), _as_float64(fake_feats)
    fake = fake.to(real.device)
    precision = _covered(fake, real, _knn_radii(real, k, chunk_size), chunk_size).double().mean()
    recall = _covered(real, fake, _knn_radii(fake, k, chunk_size), chunk_size).double().mean()
    return {"precision": float(precision), "recall": float(recall)}


def coverage(real_feats, fake_feats, k: int = 3, chunk_size: int = 1024) -> float:
    """Coverage (Naeem et al., 2020): fraction of real samples whose k-NN ball holds at least one fake sample."""
    real, fake = _as_float64(real_feats), _as_float64(fake_feats)
    fake = fake.to(real.device)
    radii = _knn_radii(real, k, chunk_size)
    nearest_fake = torch.cat([torch.cdist(c, fake).min(1).values for c in real.split(chunk_size)])
    return float((nearest_fake <= radii).double().mean())
