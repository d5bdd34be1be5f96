"""Data loading for medfx: MedMNIST ``.npz``, image folders and NIfTI lists, with seeded splits.

>>> from medfx.data import DataConfig, load_splits, make_loader
>>> splits = load_splits(DataConfig(path="builtin:pneumoniamnist", size=(32, 32)))
>>> loader = make_loader(splits["train"], batch_size=64, shuffle=True, seed=0)
"""

from medfx.data.config import DataConfig
from medfx.data.datasets import (
    ArrayDataset,
    DataError,
    FileDataset,
    ImageDataset,
    builtin_datasets,
    load_dataset,
    make_loader,
    validate,
)
from medfx.data.info import DataInfo, describe
from medfx.data.splits import load_splits

__all__ = [
    "ArrayDataset",
    "DataConfig",
    "DataError",
    "DataInfo",
    "FileDataset",
    "ImageDataset",
    "builtin_datasets",
    "describe",
    "load_dataset",
    "load_splits",
    "make_loader",
    "validate",
]
