"""Issue 13 (device runs): the de-duplicated brain_tumor_mri_4class split as one MedMNIST-layout .npz at 64x64.

The 52 MB of 224x224 JPEGs do not fit beside the wheels in what travels to a device machine (64 MiB). This writes
what medfx itself computes from them before intensity scaling: each file decoded by medfx (grey), resized to 64x64 by
medfx's own ``resize_batch`` (MONAI Resize, bilinear, anti-aliased), rounded to uint8 (at most 0.5/255 from the
float result; medfx's per-image min-max scaling follows on load, as for the files). Splits, order and labels are
the manifest's (``medfx data check ... --dedup``); class indices follow medfx's sorted class names.

    python bench/make_brain64_npz.py bench/data/brain4_dedup.csv .dev/brain64_dedup.npz
"""

import sys

import numpy as np
import torch

from medfx.data.config import DataConfig
from medfx.data.datasets import build_catalog, make_dataset
from medfx.data.transforms import resize_batch


def main(csv: str, out: str, size: int = 64) -> None:
    cfg = DataConfig(path=csv)
    cat = build_catalog(cfg, check_sizes=False)
    arrays = {}
    for split in ("train", "val", "test"):
        index = np.flatnonzero(np.asarray(cat.splits) == split)
        ds = make_dataset(cat, index, cfg)
        imgs = []
        for i in range(len(ds)):
            x = resize_batch(ds.decode(i).float(), (size, size))  # [1, size, size]
            imgs.append(torch.round(x).clamp(0, 255).to(torch.uint8)[0].numpy())
        arrays[f"{split}_images"] = np.stack(imgs)
        arrays[f"{split}_labels"] = np.asarray(ds.labels, dtype=np.uint8)[:, None]
        print(split, arrays[f"{split}_images"].shape, np.bincount(ds.labels).tolist(), flush=True)
    np.savez_compressed(out, **arrays)
    print("classes", cat.class_names, "->", out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
