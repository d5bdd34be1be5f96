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

    def merge(self, other: FeatureStats) -> FeatureStats:
        """Add the samples of ``other`` (sums and sums of outer products are additive: exact up to float64
        round-off, whatever the split of the samples)."""
        if other._sum is None:
            return self
        if self.detector and other.detector and self.detector != other.detector:
            raise ValueError(f"statistics come from different detectors: {self.detector!r} vs {other.detector!r}")
        if self._sum is None:
            self._alloc(other.dim)
        if other.dim != self.dim:
            raise ValueError(f"feature dimensions differ: {self.dim} vs {other.dim}")
        self._sum += other._sum
        self._sum_outer += other._sum_outer
        self.n += other.n
        self.detector = self.detector or other.detector
        return self

    def all_reduce(self, dist) -> FeatureStats:
        """Sum the statistics of every rank of ``dist`` (a ``DistInfo``) in float64; afterwards every rank holds
        the statistics of all samples. Every rank must hold statistics of the same dimension."""
        from ..utils.distributed import all_reduce_sum, collective_device

        if dist is None or not dist.enabled:
            return self
        if self._sum is None:
            raise ValueError("all_reduce needs allocated statistics on every rank: give FeatureStats(dim=...)")
        dev = collective_device(dist)
        self._sum = all_reduce_sum(self._sum, dist, dev)
        self._sum_outer = all_reduce_sum(self._sum_outer, dist, dev)
        self.n = int(all_reduce_sum(np.array([self.n], dtype=np.int64), dist, dev)[0])
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


def _shard_rounds(images, batch_size: int, dist):
    """The rounds of a sharded pass: lists of ``world`` batch thunks (the last round may be shorter); rank r
    evaluates the r-th. A ``torch.utils.data.Dataset`` is cut into index ranges (a rank loads only its own
    batches, collated as an unshuffled ``DataLoader`` would); anything else goes through :func:`_batches`."""
    from torch.utils.data import Dataset, default_collate

    from ..utils.distributed import batch_ranges

    world = dist.world_size if dist is not None and dist.enabled else 1
    if isinstance(images, Dataset):
        thunks = (lambda a=a, b=b: next(_batches([default_collate([images[i] for i in range(a, b)])], 1))
                  for a, b in batch_ranges(len(images), batch_size))
    else:
        thunks = ((lambda b=b: b) for b in _batches(images, batch_size))
    group = []
    for th in thunks:
        group.append(th)
        if len(group) == world:
            yield group
            group = []
    if group:
        yield group


def compute_features(images, detector: Detector, batch_size: int = 64, dist=None) -> torch.Tensor | None:
    """Detector features ``[N, D]`` (float32, CPU) of all images, in order.

    ``images``: a tensor / array ``[N, C, *spatial]``, a ``Dataset`` of ``(image, ...)`` items, or an iterable of
    batches. ``dist`` (a ``DistInfo``): batch k is computed by rank ``k % world`` and the features are gathered
    on rank 0, bitwise those of one process (every image stays in its batch); other ranks return ``None``."""
    from ..utils.distributed import gather_round

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    rank = dist.rank if dist is not None and dist.enabled else 0
    feats = []
    for group in _shard_rounds(images, batch_size, dist):
        mine, err = None, None
        if rank < len(group):
            try:
                mine = detector(torch.as_tensor(group[rank]())).cpu().numpy()
            except Exception as e:  # noqa: BLE001 - reported to every rank by gather_round
                err = e
        got = gather_round(mine, dist, err, "detector features")
        if got is not None:
            feats += [torch.from_numpy(f) for f in got if f is not None]
    if rank != 0:
        return None
    if not feats:
        raise ValueError("no images given")
    return torch.cat(feats)


def compute_stats(images, detector: Detector, batch_size: int = 64, dist=None) -> FeatureStats:
    """Stream images (tensor ``[N, C, *spatial]`` in ``[-1, 1]``, a ``Dataset``, or an iterable of batches)
    into statistics. ``dist`` (a ``DistInfo``): every rank streams its share of the batches (batch k on rank
    ``k % world``) and the float64 sums are added over ranks; every rank returns the statistics of all images
    (equal to one process's up to float64 round-off)."""
    from ..utils.distributed import agree

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    rank = dist.rank if dist is not None and dist.enabled else 0
    stats = FeatureStats(dim=detector.feature_dim, detector=detector.name)
    err = None
    for group in _shard_rounds(images, batch_size, dist):
        if rank < len(group) and err is None:
            try:
                stats.update(detector(torch.as_tensor(group[rank]())))
            except Exception as e:  # noqa: BLE001 - reported to every rank before the reduction
                err = e
    agree(dist, err, "FID statistics")
    stats.all_reduce(dist)
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
