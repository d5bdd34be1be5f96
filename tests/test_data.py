"""Tests for medfx.data: formats, preprocessing, splits, describe, and clear errors on bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from PIL import Image

from medfx.data import (
    DataConfig,
    DataError,
    DataInfo,
    builtin_datasets,
    describe,
    load_dataset,
    load_splits,
    make_loader,
    validate,
)

# ----------------------------------------------------------------------------------------------
# Tiny synthetic data


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def write_npz_2d(path: Path, n: int = 12, rgb: bool = False) -> Path:
    """Official splits, (N, 1) labels, two classes per split."""
    rng, arrays = _rng(0), {}
    for split, k in (("train", n), ("val", 4), ("test", 6)):
        shape = (k, 8, 10, 3) if rgb else (k, 8, 10)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(k) % 2).astype(np.uint8)[:, None]
    np.savez(path, **arrays)
    return path


def write_npz_3d(path: Path, n: int = 20) -> Path:
    """No split keys ('images' / 'labels'), (N,) labels."""
    rng = _rng(1)
    np.savez(path, images=rng.integers(0, 256, (n, 6, 7, 8), dtype=np.uint8), labels=np.arange(n) % 2)
    return path


def write_png(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def write_dicom(path: Path, arr: np.ndarray, slope: float = 1.0, intercept: float = 0.0) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.PixelData = arr.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_nifti(path: Path, arr: np.ndarray, affine: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(arr.astype(np.float32), np.eye(4) if affine is None else affine), str(path))
    return path


def write_class_folder(root: Path, n_per_class: int = 4, size: tuple[int, int] = (9, 11)) -> Path:
    rng = _rng(2)
    for c in ("cat", "dog"):
        for i in range(n_per_class):
            write_png(root / c / f"{i}.png", rng.integers(0, 256, size, dtype=np.uint8))
    return root


def write_nifti_csv(root: Path, n_subjects: int = 8, per_subject: int = 2) -> Path:
    """Volumes of shape (5, 6, 7); label = subject % 2; rows in a CSV with a subject column."""
    rng, rows = _rng(3), ["path,label,subject"]
    for s in range(n_subjects):
        for k in range(per_subject):
            rel = f"vols/s{s}_{k}.nii.gz"
            write_nifti(root / rel, rng.normal(size=(5, 6, 7)) * 100)
            rows.append(f"{rel},{'ab'[s % 2]},subj{s}")
    (root / "list.csv").write_text("\n".join(rows) + "\n")
    return root / "list.csv"


# ----------------------------------------------------------------------------------------------
# Config


def test_config_defaults_and_list_coercion():
    cfg = DataConfig(size=[16, 16], intensity_range=[0, 1])
    assert cfg.path == "builtin:pneumoniamnist" and cfg.size == (16, 16) and cfg.intensity_range == (0, 1)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"format": "dicom"}, "format"),
        ({"size": (16,)}, "size"),
        ({"size": (16, 0)}, "size"),
        ({"resize_mode": "pad"}, "resize_mode"),
        ({"intensity": "zscore"}, "intensity"),
        ({"percentiles": (99.0, 1.0)}, "percentiles"),
        ({"intensity_range": (1.0, -1.0)}, "intensity_range"),
        ({"orientation": "RAR"}, "orientation"),
        ({"spacing": (1.0, 1.0, 1.0)}, "spacing"),  # needs size
        ({"val_fraction": 0.6, "test_fraction": 0.5}, "val_fraction"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"max_per_split": 0}, "max_per_split"),
    ],
)
def test_config_validation_names_field(kwargs, field):
    with pytest.raises(ValueError, match=f"DataConfig.{field}"):
        DataConfig(**kwargs)


# ----------------------------------------------------------------------------------------------
# npz


def test_npz_2d_official_splits(tmp_path):
    path = write_npz_2d(tmp_path / "d.npz")
    splits = load_splits(DataConfig(path=str(path)))
    assert list(splits) == ["train", "val", "test"]
    assert [len(d) for d in splits.values()] == [12, 4, 6]
    x, y, sid = splits["train"][3]
    assert x.shape == (1, 8, 10) and x.dtype == torch.float32 and isinstance(y, int) and y == 1
    assert sid == "train/000003"
    assert x.min().item() == -1.0 and x.max().item() == 1.0  # per-image minmax to the range ends
    ids = [i for d in splits.values() for i in d.ids]
    assert len(set(ids)) == len(ids)
    for d in splits.values():
        assert d.class_names == ["0", "1"] and d.spatial_dims == 2 and d.subjects is None
        assert d.labels.dtype == np.int64 and d.image_size == (8, 10)
    # the stored pixels are the file's pixels, rescaled
    raw = np.load(path)["train_images"][3].astype(np.float32)
    expected = (raw - raw.min()) / (raw.max() - raw.min()) * 2 - 1
    np.testing.assert_allclose(x[0].numpy(), expected, atol=1e-6)


def test_npz_3d_flat_labels_no_split_resized(tmp_path):
    cfg = DataConfig(path=str(write_npz_3d(tmp_path / "v.npz")), size=(4, 4, 4), intensity_range=(0.0, 1.0))
    splits = load_splits(cfg)
    assert sum(len(d) for d in splits.values()) == 20
    assert (len(splits["test"]), len(splits["val"])) == (4, 2)  # 20% and 10% of 20
    x, _, sid = splits["train"][0]
    assert x.shape == (1, 4, 4, 4) and 0.0 <= x.min() and x.max() <= 1.0 and sid.isdigit()
    for d in splits.values():  # stratified: both classes in every split
        assert set(d.labels) == {0, 1}
    again = load_splits(cfg)
    assert all(again[s].ids == splits[s].ids for s in splits)
    other = load_splits(DataConfig(path=cfg.path, size=(4, 4, 4), split_seed=1))
    assert other["test"].ids != splits["test"].ids


def test_npz_rgb_becomes_grey(tmp_path):
    path = write_npz_2d(tmp_path / "rgb.npz", rgb=True)
    ds = load_splits(DataConfig(path=str(path), intensity_range=(0.0, 1.0)))["val"]
    rgb = np.load(path)["val_images"][1].astype(np.float32)
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    grey = (grey - grey.min()) / (grey.max() - grey.min())
    assert ds[1][0].shape == (1, 8, 10)
    np.testing.assert_allclose(ds[1][0][0].numpy(), grey, atol=1e-5)


def test_unlabelled_npz_gives_minus_one(tmp_path):
    path = tmp_path / "u.npz"
    np.savez(path, images=_rng().integers(0, 255, (10, 6, 6), dtype=np.uint8))
    ds = load_dataset(DataConfig(path=str(path)))
    assert len(ds) == 10 and ds.class_names == [] and set(ds.labels) == {-1} and ds[0][1] == -1
    info = describe(str(path))
    assert info.counts["train"] == {"unlabelled": 7} and "unlabelled" in info.to_text()


def test_max_per_split_is_stratified_and_seeded(tmp_path):
    path = str(write_npz_3d(tmp_path / "v.npz", n=40))
    a = load_splits(DataConfig(path=path, max_per_split=6))
    b = load_splits(DataConfig(path=path, max_per_split=6))
    assert len(a["train"]) == 6 and sorted(a["train"].labels) == [0, 0, 0, 1, 1, 1]
    assert a["train"].ids == b["train"].ids and len(a["val"]) == 4  # val (4 items) is below the cap


# ----------------------------------------------------------------------------------------------
# Folders (PNG, JPEG, DICOM)


def test_png_folder_classes_and_ids(tmp_path):
    root = write_class_folder(tmp_path / "imgs")
    write_png(root / "dog" / "rgba.png", _rng(5).integers(0, 256, (9, 11, 4), dtype=np.uint8))
    ds = load_dataset(DataConfig(path=str(root)))
    assert ds.class_names == ["cat", "dog"] and len(ds) == 9
    assert ds.ids[0] == "cat/0.png" and "dog/rgba.png" in ds.ids
    assert list(ds.labels) == [0] * 4 + [1] * 5
    x, y, _ = ds[ds.ids.index("dog/rgba.png")]
    assert x.shape == (1, 9, 11) and y == 1 and x.min() == -1.0 and x.max() == 1.0
    validate(ds)


def test_folder_and_npz_give_identical_tensors(tmp_path):
    imgs = _rng(6).integers(0, 256, (6, 9, 11), dtype=np.uint8)
    for i, a in enumerate(imgs):
        write_png(tmp_path / "f" / "ab"[i % 2] / f"{i}.png", a)
    np.savez(tmp_path / "a.npz", images=imgs, labels=np.arange(6) % 2)
    for kwargs in (
        {"size": (5, 7)},
        {"size": (12, 8), "resize_mode": "crop_pad"},
        {"intensity": "percentile"},
    ):
        folder = load_dataset(DataConfig(path=str(tmp_path / "f"), **kwargs))
        array = load_dataset(DataConfig(path=str(tmp_path / "a.npz"), **kwargs))
        for i in range(6):
            j = folder.ids.index(f"{'ab'[i % 2]}/{i}.png")
            torch.testing.assert_close(folder[j][0], array[i][0], atol=1e-5, rtol=0)


def test_split_folders_case_insensitive_with_dicom(tmp_path):
    root = tmp_path / "ds"
    rng = _rng(7)
    for split, n in (("Training", 10), ("TESTING", 4)):
        for c in ("neg", "pos"):
            for i in range(n):
                write_png(root / split / c / f"{i}.jpg", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    dcm = write_dicom(root / "Training" / "pos" / "scan.dcm", np.arange(64).reshape(8, 8) * 10, 2.0, -100.0)
    splits = load_splits(DataConfig(path=str(root), val_fraction=0.2))
    assert [len(d) for d in splits.values()] == [17, 4, 8]  # val is 20% of the 21 training images
    assert set(splits["val"].labels) == {0, 1}
    assert all(i.startswith("TESTING/") for i in splits["test"].ids)
    ds = load_dataset(DataConfig(path=str(root), intensity_range=(0.0, 1.0)))
    x, y, _ = ds[ds.ids.index("Training/pos/scan.dcm")]
    assert y == 1 and x.shape == (1, 8, 8)
    np.testing.assert_allclose(x[0].numpy(), np.arange(64).reshape(8, 8) / 63, atol=1e-6)
    assert dcm.exists()


# ----------------------------------------------------------------------------------------------
# NIfTI + CSV


def test_nifti_csv_subject_grouping_is_seeded(tmp_path):
    csv_path = write_nifti_csv(tmp_path, n_subjects=10, per_subject=2)
    cfg = DataConfig(path=str(csv_path), val_fraction=0.2, test_fraction=0.2, intensity="percentile")
    splits = load_splits(cfg)
    seen = {}
    for name, d in splits.items():
        assert d.subjects is not None and set(d.labels) == {0, 1}
        for s in d.subjects:
            assert seen.setdefault(s, name) == name, f"subject {s} is in two splits"
    assert sum(len(d) for d in splits.values()) == 20
    assert load_splits(cfg)["test"].ids == splits["test"].ids
    x, _y, sid = splits["train"][0]
    assert x.shape == (1, 5, 6, 7) and x.dtype == torch.float32 and sid.startswith("vols/")
    assert x.min() == -1.0 and x.max() == 1.0 and splits["train"].class_names == ["a", "b"]


def test_nifti_csv_official_split_unlabelled_and_resize(tmp_path):
    rows = ["path,split,label"]
    for i in range(6):
        write_nifti(tmp_path / f"v{i}.nii", _rng(i).normal(size=(6, 8, 4)))
        rows.append(f"v{i}.nii,{'train' if i < 4 else 'test'},{'' if i == 0 else i % 2}")
    (tmp_path / "l.csv").write_text("\n".join(rows))
    splits = load_splits(DataConfig(path=str(tmp_path / "l.csv"), size=(4, 4, 4), val_fraction=0.0))
    assert list(splits) == ["train", "test"] and splits["train"].ids == [
        "v0.nii",
        "v1.nii",
        "v2.nii",
        "v3.nii",
    ]
    assert list(splits["train"].labels) == [-1, 1, 0, 1]
    assert splits["test"][0][0].shape == (1, 4, 4, 4)


def test_nifti_orientation(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    lps_swapped = np.array(
        [[0, -1, 0, 0], [-1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=float
    )  # axes A, R, S
    write_nifti(tmp_path / "v.nii.gz", arr, lps_swapped)
    write_nifti(tmp_path / "w.nii.gz", arr[::-1].copy(), lps_swapped)
    (tmp_path / "l.csv").write_text("path,label\nv.nii.gz,0\nw.nii.gz,1\n")
    ds = load_dataset(DataConfig(path=str(tmp_path / "l.csv"), orientation="RAS", intensity_range=(0, 23)))
    x = ds[0][0][0]
    assert ds.image_size == (3, 2, 4) and x.shape == (3, 2, 4)
    # first axis was P->A flipped along with the swap: R axis comes from old axis 1 reversed (-x direction)
    np.testing.assert_allclose(x.numpy(), arr.transpose(1, 0, 2)[::-1, ::-1], atol=1e-4)


# ----------------------------------------------------------------------------------------------
# Preprocessing


def test_percentile_clips_outliers_minmax_does_not(tmp_path):
    img = np.tile(np.linspace(0, 100, 50, dtype=np.float32), (50, 1))
    img[0, 0] = 1e6  # a single hot pixel
    np.savez(tmp_path / "o.npz", images=np.stack([img, img]), labels=np.array([0, 1]))
    minmax = load_dataset(DataConfig(path=str(tmp_path / "o.npz")))[0][0][0]
    pct = load_dataset(DataConfig(path=str(tmp_path / "o.npz"), intensity="percentile", percentiles=(1, 99)))[
        0
    ][0][0]
    assert minmax[0, 0] == 1.0 and minmax[1:].max() < -0.99  # everything else squashed near -1
    assert pct[0, 0] == 1.0 and pct[5, 25] > -0.2 and pct[5, 25] < 0.2  # mid-gradient stays mid-range
    assert pct.min() == -1.0 and (pct[1:] == 1.0).float().mean() > 0.005


def test_crop_pad_vs_resize(tmp_path):
    img = _rng(8).integers(1, 256, (1, 6, 6), dtype=np.uint8)
    img[0, 0, 0], img[0, 0, 1] = 0, 255
    np.savez(tmp_path / "c.npz", images=np.concatenate([img, img]), labels=np.array([0, 1]))
    base = load_dataset(DataConfig(path=str(tmp_path / "c.npz")))[0][0][0]
    padded = load_dataset(DataConfig(path=str(tmp_path / "c.npz"), size=(10, 8), resize_mode="crop_pad"))[0][
        0
    ][0]
    assert padded.shape == (10, 8)
    torch.testing.assert_close(padded[2:8, 1:7], base)  # centred, values untouched
    assert (padded[:2] == -1).all() and (padded[:, 0] == -1).all()  # padding takes the low end
    cropped = load_dataset(DataConfig(path=str(tmp_path / "c.npz"), size=(4, 4), resize_mode="crop_pad"))[0][
        0
    ][0]
    torch.testing.assert_close(cropped, base[1:5, 1:5])
    resized = load_dataset(DataConfig(path=str(tmp_path / "c.npz"), size=(12, 12)))[0][0][0]
    assert resized.shape == (12, 12) and resized.min() == -1.0 and resized.max() == 1.0


def test_make_loader_is_seeded(tmp_path):
    ds = load_dataset(DataConfig(path=str(write_npz_3d(tmp_path / "v.npz"))))
    def order(seed):
        return [i for _, _, ids in make_loader(ds, 4, shuffle=True, seed=seed) for i in ids]
    assert order(3) == order(3) and order(3) != order(4) and sorted(order(3)) == sorted(ds.ids)
    x, y, ids = next(iter(make_loader(ds, 4, shuffle=False, seed=0)))
    assert x.shape == (4, 1, 6, 7, 8) and y.dtype == torch.long and list(ids) == ds.ids[:4]
    with pytest.raises(ValueError, match="sampler"):
        make_loader(ds, 4, shuffle=True, seed=0, sampler=torch.utils.data.SequentialSampler(ds))


# ----------------------------------------------------------------------------------------------
# describe


def test_describe_every_format(tmp_path):
    info = describe(str(write_npz_2d(tmp_path / "d.npz")))
    assert isinstance(info, DataInfo) and info.format == "npz" and info.native_sizes == {(8, 10): 22}
    assert info.counts["val"] == {"0": 2, "1": 2} and info.raw_range[1] <= 255
    folder = describe(DataConfig(path=str(write_class_folder(tmp_path / "f", 5)), size=(4, 4)))
    assert folder.format == "folder" and folder.target_size == (4, 4) and folder.n_items == 10
    assert "cat" in folder.to_text() and "4x4" in folder.to_text()
    nifti = describe(str(write_nifti_csv(tmp_path / "n", n_subjects=6)))
    assert nifti.format == "nifti_csv" and nifti.spatial_dims == 3 and nifti.subjects == 6
    assert nifti.native_sizes == {(5, 6, 7): 12}
    write_png(tmp_path / "f" / "cat" / "big.png", np.zeros((20, 20), dtype=np.uint8))
    mixed = describe(str(tmp_path / "f"))  # mixed sizes are reported, not rejected
    assert mixed.native_sizes == {(9, 11): 10, (20, 20): 1}


@pytest.mark.parametrize("name, dims, n", [("pneumoniamnist", 2, 5856), ("adrenalmnist3d", 3, 1584)])
def test_builtins(name, dims, n):
    assert name in builtin_datasets()
    info = describe(f"builtin:{name}")
    assert info.spatial_dims == dims and info.n_items == n and len(info.class_names) == 2
    assert list(info.counts) == ["train", "val", "test"]
    assert info.native_sizes == {(28,) * dims: n}
    text = info.to_text()
    assert name in text and info.class_names[1] in text


def test_builtin_small_loads():
    splits = load_splits(DataConfig(path="builtin:adrenalmnist3d", max_per_split=8, size=(16, 16, 16)))
    x, _y, sid = splits["train"][0]
    assert x.shape == (1, 16, 16, 16) and splits["train"].class_names == ["normal", "hyperplasia"]
    assert sid.startswith("train/")


# ----------------------------------------------------------------------------------------------
# Bad input: one-line DataError naming the file


def _error(cfg: DataConfig, load_all: bool = False) -> str:
    with pytest.raises(DataError) as info:
        if load_all:
            validate(load_dataset(cfg))
        else:
            load_splits(cfg)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_error_missing_path(tmp_path):
    assert "nothere.npz" in _error(DataConfig(path=str(tmp_path / "nothere.npz")))
    assert "nodir" in _error(DataConfig(path=str(tmp_path / "nodir")))
    assert "unknown built-in" in _error(DataConfig(path="builtin:nope"))


def test_error_corrupt_png(tmp_path):
    root = write_class_folder(tmp_path / "f")
    (root / "cat" / "broken.png").write_bytes(b"not a png at all" * 10)
    assert "broken.png" in _error(DataConfig(path=str(root)))


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_error_truncated_image(tmp_path, suffix):
    root = tmp_path / "f"
    rng = _rng(9)
    for c in ("a", "b"):
        for i in range(2):
            write_png(root / c / f"{i}{suffix}", rng.integers(0, 256, (64, 64), dtype=np.uint8))
    good = (root / "b" / f"1{suffix}").read_bytes()
    (root / "b" / f"cut{suffix}").write_bytes(good[: len(good) // 2])
    # PNG checksums fail up front; a JPEG header survives and fails when decoded (validate)
    assert f"cut{suffix}" in _error(DataConfig(path=str(root)), load_all=True)


def test_error_truncated_nifti_at_load_time(tmp_path):
    csv_path = write_nifti_csv(tmp_path, n_subjects=4, per_subject=1)
    vol = tmp_path / "vols" / "s2_0.nii.gz"
    data = gzip.decompress(vol.read_bytes())
    vol.write_bytes(gzip.compress(data[: 352 + 40]))  # header intact, voxels missing
    message = _error(DataConfig(path=str(csv_path)), load_all=True)
    assert "s2_0.nii.gz" in message and "cannot load" in message


def test_error_csv_row_points_nowhere(tmp_path):
    csv_path = write_nifti_csv(tmp_path, n_subjects=3, per_subject=1)
    csv_path.write_text(csv_path.read_text() + "vols/ghost.nii.gz,a,subj9\n")
    message = _error(DataConfig(path=str(csv_path)))
    assert "list.csv" in message and "row 5" in message and "vols/ghost.nii.gz" in message


def test_error_single_class(tmp_path):
    write_png(tmp_path / "f" / "only" / "a.png", np.zeros((4, 4), dtype=np.uint8))
    write_png(tmp_path / "f" / "only" / "b.png", np.ones((4, 4), dtype=np.uint8))
    assert "single class 'only'" in _error(DataConfig(path=str(tmp_path / "f")))
    np.savez(tmp_path / "one.npz", images=np.zeros((4, 5, 5)), labels=np.zeros(4))
    assert "one.npz" in _error(DataConfig(path=str(tmp_path / "one.npz")))
    (tmp_path / "one.csv").write_text("path,label\nf/only/a.png,x\nf/only/b.png,x\n")
    message = _error(DataConfig(path=str(tmp_path / "one.csv")))
    assert "one.csv" in message and "single class" in message


def test_error_mixed_2d_3d(tmp_path):
    for i in range(3):
        write_nifti(tmp_path / f"v{i}.nii.gz", np.zeros((4, 4, 4)))
    write_nifti(tmp_path / "flat.nii.gz", np.zeros((4, 4)))
    (tmp_path / "l.csv").write_text(
        "path,label\n" + "".join(f"{n}.nii.gz,{i % 2}\n" for i, n in enumerate(["v0", "v1", "flat", "v2"]))
    )
    message = _error(DataConfig(path=str(tmp_path / "l.csv")))
    assert "flat.nii.gz" in message and "mixed 2D and 3D" in message
    np.savez(tmp_path / "m.npz", train_images=np.zeros((4, 5, 5)), test_images=np.zeros((4, 5, 5, 5)))
    message = _error(DataConfig(path=str(tmp_path / "m.npz")))
    assert "m.npz" in message and "test_images" in message


def test_error_nan_values(tmp_path):
    imgs = _rng().normal(size=(6, 5, 5))
    imgs[4, 2, 2] = np.nan
    np.savez(tmp_path / "nan.npz", train_images=imgs, train_labels=np.arange(6) % 2)
    message = _error(DataConfig(path=str(tmp_path / "nan.npz")))
    assert "nan.npz" in message and "train_images" in message and "sample 4" in message
    write_nifti(tmp_path / "a.nii.gz", np.zeros((3, 3, 3)))
    write_nifti(tmp_path / "inf.nii.gz", np.full((3, 3, 3), np.inf))
    (tmp_path / "l.csv").write_text("path,label\na.nii.gz,0\ninf.nii.gz,1\n")
    assert "inf.nii.gz" in _error(DataConfig(path=str(tmp_path / "l.csv")), load_all=True)


def test_error_empty(tmp_path):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    assert "empty" in _error(DataConfig(path=str(tmp_path / "empty")))
    np.savez(tmp_path / "e.npz", train_images=np.zeros((0, 4, 4)), train_labels=np.zeros(0))
    message = _error(DataConfig(path=str(tmp_path / "e.npz")))
    assert "e.npz" in message and "train_images" in message
    (tmp_path / "h.csv").write_text("path,label\n")
    assert "h.csv" in _error(DataConfig(path=str(tmp_path / "h.csv")))


def test_error_non_uniform_sizes(tmp_path):
    root = write_class_folder(tmp_path / "f")
    write_png(root / "dog" / "odd.png", np.zeros((5, 5), dtype=np.uint8))
    message = _error(DataConfig(path=str(root)))
    assert "odd.png" in message and "DataConfig.size" in message
    assert len(load_dataset(DataConfig(path=str(root), size=(5, 5)))) == 9  # fine once a size is set
