"""Array-like row sources read on demand, so training and evaluation hold one batch, not the dataset.

Both classes behave like a read-only tensor along the first axis: ``len(src)``, ``src.shape``, ``src.ndim`` and
``src[idx] -> torch.Tensor`` for an index tensor / array / list / slice (an int gives one row, as a tensor does).
``take(rows)`` is a view on some rows (no data are read); ``load()`` reads every row into one tensor.

* ``NpyRows``: rows of a ``.npy`` file (a feature bank's arrays). The file is memory-mapped only for the time of
  one read, so the pages a batch touched leave the process's resident set afterwards (the OS page cache keeps
  them, shared and reclaimable); the object pickles as its path, for DataLoader workers.
* ``DatasetRows``: images of one or more datasets (``ds[i][0]``), decoded on access (``FileDataset``) or taken
  from the dataset's own array (``ArrayDataset``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def _positions(idx, n: int) -> np.ndarray:
    """``idx`` as an int64 array of positions in ``[0, n)``."""
    if isinstance(idx, slice):
        return np.arange(n)[idx]
    if isinstance(idx, torch.Tensor):
        idx = idx.cpu().numpy()
    a = np.asarray(idx)
    if a.dtype == bool:
        if a.shape != (n,):
            raise IndexError(f"boolean index of shape {a.shape} for {n} rows")
        return np.flatnonzero(a)
    a = a.astype(np.int64).reshape(-1)
    if len(a) and (a.min() < -n or a.max() >= n):
        raise IndexError(f"row index out of range for {n} rows")
    return np.where(a < 0, a + n, a)


class _Rows:
    """Shared indexing of a row source restricted to ``rows`` of its ``base_len`` rows (None = all)."""

    row_shape: tuple[int, ...]

    def __init__(self, base_len: int, rows=None):
        self.rows = None if rows is None else _positions(rows, base_len)
        self._base_len = base_len

    def __len__(self) -> int:
        return self._base_len if self.rows is None else len(self.rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.row_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.row_shape)

    def _base(self, idx) -> np.ndarray:
        pos = _positions([idx] if isinstance(idx, (int, np.integer)) else idx, len(self))
        return pos if self.rows is None else self.rows[pos]

    def take(self, rows):
        """A view on ``rows`` (positions in this source); reads nothing."""
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out.rows = self._base(rows)
        return out

    def load(self) -> torch.Tensor:
        return self[slice(None)]

    def __getitem__(self, idx) -> torch.Tensor:
        if isinstance(idx, (int, np.integer)):
            return self._read(self._base(idx))[0]
        return self._read(self._base(idx))

    def _read(self, base: np.ndarray) -> torch.Tensor:
        raise NotImplementedError


class NpyRows(_Rows):
    """Rows of the ``.npy`` file at ``path`` (``[N, ...]``), each reshaped to ``row_shape`` (default: as stored)."""

    def __init__(self, path: str | Path, row_shape=None, rows=None):
        self.path = Path(path)
        arr = np.load(self.path, mmap_mode="r")
        self.dtype = arr.dtype
        stored = tuple(arr.shape[1:])
        self.row_shape = stored if row_shape is None else tuple(int(s) for s in row_shape)
        if int(np.prod(self.row_shape)) != int(np.prod(stored)):
            raise ValueError(f"{self.path}: rows of shape {stored} cannot be viewed as {self.row_shape}")
        n = arr.shape[0]
        del arr
        super().__init__(n, rows)

    def _read(self, base: np.ndarray) -> torch.Tensor:
        uniq, inv = np.unique(base, return_inverse=True)  # ascending reads: sequential on disk
        arr = np.load(self.path, mmap_mode="r")
        block = np.asarray(arr[uniq])  # a copy; the map is released with ``arr``
        del arr
        return torch.from_numpy(np.ascontiguousarray(block[inv.reshape(-1)].reshape(len(base), *self.row_shape)))


class DatasetRows(_Rows):
    """Images ``ds[i][0]`` of ``datasets`` (concatenated in order), stacked per read."""

    def __init__(self, datasets, rows=None):
        self.datasets = list(datasets)
        self._ends = np.cumsum([len(d) for d in self.datasets])
        n = int(self._ends[-1]) if len(self._ends) else 0
        if n == 0:
            raise ValueError("DatasetRows needs at least one item")
        first = self.datasets[0]
        size = getattr(first, "image_size", None)
        self.row_shape = (1, *size) if size is not None else tuple(first[0][0].shape)
        super().__init__(n, rows)

    def _item(self, i: int) -> torch.Tensor:
        d = int(np.searchsorted(self._ends, i, side="right"))
        start = 0 if d == 0 else int(self._ends[d - 1])
        return self.datasets[d][i - start][0]

    def _read(self, base: np.ndarray) -> torch.Tensor:
        if len(base) == 0:
            return torch.empty((0, *self.row_shape))
        return torch.stack([self._item(int(i)) for i in base])
