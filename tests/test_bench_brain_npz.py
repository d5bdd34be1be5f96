"""bench/make_brain64_npz.py: a manifest of image files turned into one small .npz that medfx reads like the files."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
mk = pytest.importorskip("make_brain64_npz")
Image = pytest.importorskip("PIL.Image")

from medfx.data.config import DataConfig  # noqa: E402
from medfx.data.datasets import build_catalog, make_dataset  # noqa: E402


def _manifest(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = ["path,label,split"]
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        for i in range(n):
            label = ("a", "b")[i % 2]
            f = tmp_path / f"{split}_{i}.png"
            # smooth random images, so that resizing 40 -> 16 matters and min / max differ per image
            img = rng.integers(0, 256, (10, 10)).astype(np.uint8)
            Image.fromarray(img).resize((40, 40), Image.BILINEAR).save(f)
            rows.append(f"{f},{label},{split}")
    csv = tmp_path / "m.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv


def test_npz_matches_reading_the_files(tmp_path):
    csv = _manifest(tmp_path)
    out = tmp_path / "small.npz"
    mk.main(str(csv), str(out), size=16)
    z = np.load(out)
    assert z["train_images"].shape == (6, 16, 16) and z["train_images"].dtype == np.uint8
    assert z["test_labels"].shape == (3, 1)
    cfg_files, cfg_npz = DataConfig(path=str(csv), size=(16, 16)), DataConfig(path=str(out), size=(16, 16))
    cat_f, cat_n = build_catalog(cfg_files), build_catalog(cfg_npz)
    for split in ("train", "val", "test"):
        i_f = np.flatnonzero(np.asarray(cat_f.splits) == split)
        i_n = np.flatnonzero(np.asarray(cat_n.splits) == split)
        ds_f, ds_n = make_dataset(cat_f, i_f, cfg_files), make_dataset(cat_n, i_n, cfg_npz)
        assert (ds_f.labels == ds_n.labels).all()  # same order, same class indices
        x_f = torch.stack([ds_f[i][0] for i in range(len(ds_f))])
        # only the uint8 rounding differs: at most 0.5/255 of the raw range, stretched by min-max scaling
        assert (x_f - ds_n.images).abs().max() < 0.05
        assert not torch.equal(x_f[:1], x_f[1:2])
