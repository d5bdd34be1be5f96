"""``medfx data check``: planted exact / near duplicates across splits and datasets, broken files, 3D,
de-duplicated manifests (read back as ``data.path``), split manifests and the pipeline's leak policy."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medfx.data import DataConfig, load_splits
from medfx.data.check import CheckConfig, check_data, near_pairs, write_split_manifest

SIZE = 256


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDFX_CACHE_DIR", str(tmp_path / "cache"))


def smooth_image(rng, size=SIZE) -> np.ndarray:
    """A distinct smooth grey image: random 6x6 field upsampled, a random bright disc, black outside a circle."""
    low = Image.fromarray((rng.random((6, 6)) * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
    x = np.asarray(low, dtype=np.float32)
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.uniform(0.25, 0.75, 2) * size
    r = rng.uniform(0.08, 0.2) * size
    x = x * 0.6 + 100 * ((yy - cy) ** 2 + (xx - cx) ** 2 < r**2)
    x *= (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (0.42 * size) ** 2  # black background, as in a scan
    return np.clip(x, 0, 255).astype(np.uint8)


def shift(x: np.ndarray, d: int) -> np.ndarray:
    out = np.zeros_like(x)
    out[d:, d:] = x[:-d, :-d]
    return out


def save(x: np.ndarray, path: Path, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(x).save(path, **kw)


@pytest.fixture()
def leaky_folder(tmp_path):
    """train/ and test/ class folders with 12 + 6 distinct images, plus planted copies of train images in
    test: an identical RGB copy, a re-encoded JPEG, a resized copy, a 2-px shift and an intensity-scaled copy."""
    rng = np.random.default_rng(0)
    root = tmp_path / "leaky"
    train = {}
    for i in range(12):
        x = smooth_image(rng)
        cls = "a" if i % 2 else "b"
        save(x, root / "train" / cls / f"tr{i:02d}.png")
        train[i] = (x, cls)
    for i in range(6):
        save(smooth_image(rng), root / "test" / ("a" if i % 2 else "b") / f"te{i:02d}.png")
    planted = {
        "exact_rgb.png": (0, lambda x: np.stack([x] * 3, -1), {}),
        "jpeg.jpg": (1, lambda x: x, {"quality": 60}),
        "resized.png": (2, lambda x: np.asarray(Image.fromarray(x).resize((72, 72), Image.BILINEAR)), {}),
        "shifted.png": (3, lambda x: shift(x, 2), {}),
        "scaled.png": (4, lambda x: (x.astype(np.float32) * 0.6 + 20).astype(np.uint8), {}),
    }
    expected = {}
    for name, (src, fn, kw) in planted.items():
        x, cls = train[src]
        save(fn(x), root / "test" / cls / name, **kw)
        expected[f"test/{cls}/{name}"] = f"train/{cls}/tr{src:02d}.png"
    return root, expected


def _partners(res) -> dict[str, set[str]]:
    """id -> ids of the items sharing an exact or near group with it."""
    out = {}
    for g in res.exact_groups + res.near_groups:
        ids = {m["id"] for m in g["members"]}
        for i in ids:
            out.setdefault(i, set()).update(ids - {i})
    return out


def test_planted_duplicates_across_splits_are_found_and_distinct_images_are_not(leaky_folder):
    root, expected = leaky_folder
    res = check_data(DataConfig(path=str(root), val_fraction=0.0))
    partners = _partners(res)
    for test_id, train_id in expected.items():
        assert train_id in partners.get(test_id, set()), test_id
    flagged = set(partners)
    planted = set(expected) | set(expected.values())
    assert flagged == planted  # none of the 13 distinct images is flagged
    exact = [g for g in res.exact_groups]
    assert len(exact) == 1 and {m["id"] for m in exact[0]["members"]} == {"test/b/exact_rgb.png", "train/b/tr00.png"}
    assert exact[0]["scope"] == "cross_split"
    assert res.leaks["test"]["leaked"] == 5 and res.leaks["test"]["exact"] == 1
    assert res.leaks["test"]["copies_in"] == {"train": 5}
    assert "test" in res.leak_message()


def test_thresholds_are_configurable(leaky_folder):
    root, expected = leaky_folder
    strict = check_data(DataConfig(path=str(root), val_fraction=0.0), config=CheckConfig(threshold=0))
    assert not any(m["id"] == "test/b/shifted.png" for g in strict.near_groups for m in g["members"])
    exact_only = check_data(DataConfig(path=str(root), val_fraction=0.0), config=CheckConfig(near=False))
    assert exact_only.near_groups == [] and len(exact_only.exact_groups) == 1


def test_cross_dataset_duplicates_npz_against_folder_and_cache(tmp_path, leaky_folder):
    root, _ = leaky_folder
    rng = np.random.default_rng(1)
    src = np.asarray(Image.open(root / "train" / "a" / "tr05.png"))
    pool = np.stack([smooth_image(rng) for _ in range(9)] + [np.asarray(
        Image.fromarray(src).resize((SIZE, SIZE), Image.LANCZOS).rotate(0))])  # one copy of a target image
    np.savez(tmp_path / "pool.npz", images=pool)
    cache = tmp_path / "c"
    res = check_data(DataConfig(path=str(root), val_fraction=0.0), against=[str(tmp_path / "pool.npz")],
                     cache_dir=cache)
    cross = [g for g in res.exact_groups + res.near_groups if g["scope"] == "cross_dataset"]
    assert len(cross) == 1
    assert {m["id"] for m in cross[0]["members"]} >= {"train/a/tr05.png", "000009"}
    again = check_data(DataConfig(path=str(root), val_fraction=0.0), against=[str(tmp_path / "pool.npz")],
                       cache_dir=cache)
    assert again.timing["cached"] == again.timing["items"]
    assert again.to_dict()["exact_groups"] == res.to_dict()["exact_groups"]


def test_against_pool_counts_as_test_leak(tmp_path):
    rng = np.random.default_rng(2)
    x = np.stack([smooth_image(rng, 32) for _ in range(20)])
    y = np.arange(20) % 2
    np.savez(tmp_path / "target.npz", train_images=x[:10], train_labels=y[:10, None], val_images=x[10:15],
             val_labels=y[10:15, None], test_images=x[15:], test_labels=y[15:, None])
    np.savez(tmp_path / "pool.npz", images=np.concatenate([x[17:18], np.stack([smooth_image(rng, 32)] * 1)]))
    res = check_data(str(tmp_path / "target.npz"), against=[str(tmp_path / "pool.npz")])
    assert res.leaks["test"]["leaked"] == 1
    assert list(res.leaks["test"]["copies_in"]) == [f"against:{tmp_path / 'pool.npz'}"]
    assert res.leaks["val"]["leaked"] == 0


def test_corrupt_constant_and_outlier_images_are_reported_not_raised(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "broken"
    for i in range(8):
        save(smooth_image(rng, 32), root / ("a" if i % 2 else "b") / f"ok{i}.png")
    (root / "a" / "truncated.png").write_bytes((root / "a" / "ok1.png").read_bytes()[:60])
    (root / "b" / "text.jpg").write_text("not an image")
    save(np.full((32, 32), 7, np.uint8), root / "a" / "constant.png")
    empty = np.zeros((32, 32), np.uint8)
    empty[0, 0] = 255
    save(empty, root / "b" / "empty.png")
    hot = (smooth_image(rng, 32).astype(np.int32) * 200).astype(np.uint16)  # a 16-bit image among 8-bit ones
    Image.fromarray(hot).save(root / "a" / "hot.png")
    res = check_data(str(root))
    kinds = {(i["kind"], i["id"]) for i in res.issues}
    assert ("unreadable", "a/truncated.png") in kinds and ("unreadable", "b/text.jpg") in kinds
    assert ("constant", "a/constant.png") in kinds
    assert ("near_empty", "b/empty.png") in kinds
    assert ("intensity_outlier", "a/hot.png") in kinds
    flagged = {i for k, i in kinds if k == "intensity_outlier"}
    assert flagged == {"a/hot.png"}
    out = res.write_all(tmp_path / "report")
    report = json.loads(out["json"].read_text())
    assert report["summary"]["issues"]["unreadable"] == 2
    manifest = tmp_path / "clean.csv"
    info = res.write_dedup_manifest(manifest)
    assert info["unreadable_left_out"] == 2
    assert "truncated" not in manifest.read_text()


def test_label_problems_are_reported(tmp_path):
    rng = np.random.default_rng(4)
    x = np.stack([smooth_image(rng, 32) for _ in range(12)])
    np.savez(tmp_path / "d.npz", train_images=x[:8], train_labels=np.array([0, 1] * 4)[:, None],
             test_images=x[8:], test_labels=np.zeros((4, 1), np.uint8), val_images=x[:2] * 0 + x[8:10],
             val_labels=np.array([[1], [1]]))
    res = check_data(str(tmp_path / "d.npz"))
    kinds = {(i["kind"], i["split"]) for i in res.issues}
    assert ("single_class_split", "test") in kinds and ("single_class_split", "val") in kinds
    assert any(i["kind"] == "label_conflict" for i in res.issues)  # val copies of test images, other label
    assert res.datasets[0]["counts"]["train"] == {"0": 4, "1": 4}


def _volume(rng, n=32):
    from scipy.ndimage import zoom

    v = zoom(rng.random((8, 8, 8)), n / 8, order=1)
    return (v - v.min()) / (v.max() - v.min()) * 1000


def test_3d_near_duplicates_nifti_csv(tmp_path):
    import nibabel as nib

    rng = np.random.default_rng(5)
    rows = []
    vols = [_volume(rng) for _ in range(8)]
    for i, v in enumerate(vols):
        nib.save(nib.Nifti1Image(v.astype(np.float32), np.eye(4)), tmp_path / f"v{i}.nii.gz")
        rows.append((f"v{i}.nii.gz", i % 2, "test" if i >= 6 else "train", f"s{i}"))
    copy = vols[1] * 0.5 + 3 + np.random.default_rng(0).normal(0, 5, vols[1].shape)  # rescaled, noisy
    nib.save(nib.Nifti1Image(copy.astype(np.float32), np.eye(4)), tmp_path / "copy.nii.gz")
    rows.append(("copy.nii.gz", 1, "test", "s1"))  # same subject as v1, in another split
    with open(tmp_path / "vols.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "split", "subject"])
        w.writerows(rows)
    res = check_data(DataConfig(path=str(tmp_path / "vols.csv"), val_fraction=0.0))
    assert res.datasets[0]["spatial_dims"] == 3
    partners = _partners(res)
    assert set(partners) == {"v1.nii.gz", "copy.nii.gz"}
    assert any(i["kind"] == "subject_leak" for i in res.issues)
    assert res.leaks["test"]["near_only"] == 1
    out = res.write_all(tmp_path / "r")
    assert "data:image/png;base64," in out["html"].read_text()
    manifest = tmp_path / "dedup.csv"
    res.write_dedup_manifest(manifest, group_subjects=True)
    splits = load_splits(DataConfig(path=str(manifest), val_fraction=0.0))
    assert any(i.endswith("/copy.nii.gz") for i in splits["train"].ids)  # moved to the split of its copy


def test_3d_npz(tmp_path):
    rng = np.random.default_rng(6)
    v = np.stack([_volume(rng, 16).astype(np.uint8) for _ in range(6)])
    v[5] = v[0]
    np.savez(tmp_path / "v.npz", train_images=v[:4], train_labels=np.array([[0], [1], [0], [1]]),
             test_images=v[4:], test_labels=np.array([[0], [1]]))
    res = check_data(DataConfig(path=str(tmp_path / "v.npz"), val_fraction=0.0))
    assert res.leaks["test"]["exact"] == 1 and len(res.exact_groups) == 1


def test_dedup_manifest_is_a_dataset_without_cross_split_groups(leaky_folder, tmp_path):
    root, expected = leaky_folder
    res = check_data(DataConfig(path=str(root), val_fraction=0.0))
    manifest = tmp_path / "dedup.csv"
    info = res.write_dedup_manifest(manifest)
    assert info["dropped_exact"] == 1 and info["moved"] == 4
    splits = load_splits(DataConfig(path=str(manifest), val_fraction=0.0, size=(32, 32)))
    assert len(splits["train"]) + len(splits["test"]) == 12 + 6 + 5 - 1
    assert "test/b/exact_rgb.png" not in splits["test"].ids + splits["train"].ids
    assert splits["train"].class_names == ["a", "b"]
    x, label, _ = splits["train"][0]
    assert tuple(x.shape) == (1, 32, 32)
    again = check_data(DataConfig(path=str(manifest), val_fraction=0.0))
    assert again.exact_groups == []
    assert all(g["scope"] == "within_split" for g in again.near_groups)
    assert again.leaked_items() == 0
    drop = res.write_dedup_manifest(tmp_path / "drop.csv", near_policy="drop")
    assert drop["dropped_near"] == 4 and drop["splits"]["test"] == 6


def test_npz_manifest_references(tmp_path):
    rng = np.random.default_rng(7)
    x = np.stack([smooth_image(rng, 16) for _ in range(6)])
    np.savez(tmp_path / "d.npz", train_images=x[:4], train_labels=np.array([[1], [0], [1], [0]]),
             test_images=x[4:], test_labels=np.array([[0], [1]]), class_names=np.array(["zeta", "alpha"]))
    (tmp_path / "m.csv").write_text("path,label,split\nd.npz#train/000000,alpha,train\nd.npz#train/000001,,train\n"
                                    "d.npz#test/000001,alpha,test\nd.npz#train/000003,zeta,test\n")
    splits = load_splits(DataConfig(path=str(tmp_path / "m.csv"), val_fraction=0.0, intensity_range=(0, 255)))
    assert splits["train"].class_names == ["zeta", "alpha"]  # the source's class order, not sorted names
    assert splits["train"].labels.tolist() == [1, 0] and splits["test"].labels.tolist() == [1, 0]
    img = splits["test"][1][0][0].numpy()
    ref = x[3].astype(np.float32)
    np.testing.assert_allclose(img, (ref - ref.min()) / (ref.max() - ref.min()) * 255, atol=1e-3)
    (tmp_path / "bad.csv").write_text("path,label,split\nd.npz#train/000099,alpha,train\n")
    with pytest.raises(ValueError, match="no item 'train/000099'"):
        load_splits(DataConfig(path=str(tmp_path / "bad.csv")))
    (tmp_path / "b.csv").write_text("path,split\nbuiltin:pneumoniamnist#test/000003,test\n"
                                    "builtin:pneumoniamnist#train/000000,train\nbuiltin:pneumoniamnist#train/000001,train\n")
    ds = load_splits(DataConfig(path=str(tmp_path / "b.csv"), val_fraction=0.0))
    assert ds["train"].class_names == ["normal", "pneumonia"]


def test_split_manifest_round_trips(tmp_path):
    cfg = DataConfig(path="builtin:pneumoniamnist", max_per_split=20)
    path = write_split_manifest(cfg, tmp_path / "splits.csv")
    rows = list(csv.DictReader(open(path)))
    assert len(rows) == 60 and {r["split"] for r in rows} == {"train", "val", "test"}
    assert all(len(r["content_sha1"]) == 40 for r in rows)
    original = load_splits(cfg)
    again = load_splits(DataConfig(path=str(path)))
    for s in ("train", "val", "test"):
        assert [i.split("#", 1)[1] for i in again[s].ids] == original[s].ids
        np.testing.assert_array_equal(again[s].labels, original[s].labels)
        assert np.allclose(again[s].images.numpy(), original[s].images.numpy())


@pytest.mark.parametrize("nbits,threshold", [(64, 6), (64, 0), (256, 32), (192, 24), (100, 3)])
def test_near_pairs_matches_brute_force(nbits, threshold):
    rng = np.random.default_rng(8)
    base = rng.random((40, nbits)) < 0.5
    flip = threshold / nbits * 0.7 if threshold else 0.02
    bits = np.concatenate([base, base[:20] ^ (rng.random((20, nbits)) < flip), base[:3]])  # noisy + exact copies
    packed = np.packbits(bits, axis=1)
    a, b, d = near_pairs(packed, nbits, threshold, block=7)
    dist = (bits[:, None, :] != bits[None, :, :]).sum(-1)
    ii, jj = np.nonzero(np.triu(dist <= threshold, 1))
    assert sorted(zip(a.tolist(), b.tolist(), d.tolist())) == sorted(
        zip(ii.tolist(), jj.tolist(), dist[ii, jj].tolist()))
    assert len(ii) >= 10


def test_cli_check_and_dedup(leaky_folder, tmp_path, capsys):
    from medfx.cli import main

    root, _ = leaky_folder
    out, manifest = tmp_path / "out", tmp_path / "m.csv"
    rc = main(["data", "check", str(root), "--out", str(out), "--dedup", str(manifest), "--no-cache",
               "--fail-on-leak"])
    text = capsys.readouterr().out
    assert rc == 3 and "exact duplicates  1 groups" in text
    assert (out / "data_check.json").is_file() and (out / "groups.csv").is_file()
    assert "base64" in (out / "data_check.html").read_text()
    assert main(["data", "check", str(manifest), "--out", str(out), "--no-cache", "--fail-on-leak"]) == 0


@pytest.mark.parametrize("mode", ["warn", "error", "off"])
def test_pipeline_leak_policy(mode, leaky_folder, tmp_path, caplog):
    from medfx.config import load_config
    from medfx.workflows.pipeline import _check_data

    root, _ = leaky_folder
    cfg = load_config(None, [f"data.path={root}", f"data.leakage={mode}", "data.size=[32,32]",
                             "data.val_fraction=0"])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    if mode == "error":
        with pytest.raises(ValueError, match="data leak: 5 of 11 test images"):
            _check_data(cfg, run_dir)
    else:
        with caplog.at_level(logging.WARNING, logger="medfx"):
            _check_data(cfg, run_dir)
        assert ("data leak" in caplog.text) == (mode == "warn")
    assert (run_dir / "splits.csv").is_file()
    assert (run_dir / "data_check.json").is_file() == (mode != "off")
    if mode == "warn":
        report = json.loads((run_dir / "data_check.json").read_text())
        assert report["leaks"]["test"]["leaked"] == 5


def test_pipeline_checks_pretrain_data_against_target(tmp_path, leaky_folder):
    from medfx.config import load_config
    from medfx.workflows.pipeline import _check_data

    root, expected = leaky_folder
    pool = tmp_path / "pool" / "x"
    pool.mkdir(parents=True)
    test_img = next(iter(expected))
    (pool / "copy.png").write_bytes((root / test_img).read_bytes())
    clean = tmp_path / "clean.csv"
    check_data(DataConfig(path=str(root), val_fraction=0.0)).write_dedup_manifest(clean)
    cfg = load_config(None, [f"data.path={clean}", "data.leakage=error", "data.size=[32,32]", "data.val_fraction=0",
                             f"pipeline.pretrain_data={tmp_path / 'pool'}"])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _check_data(cfg, run_dir)  # the copy's source is in train only (no leak), the clean target has none
    (pool / "copy2.png").write_bytes((root / "test/a/te01.png").read_bytes())
    with pytest.raises(ValueError, match="against"):
        _check_data(cfg, run_dir)


def test_pretrain_writes_split_manifest(tmp_path):
    from medfx.config import load_config
    from medfx.workflows.train import pretrain

    cfg = load_config(None, ["preset=tiny", "train.steps=1", "train.ckpt_every=1",
                             f"run.out_dir={tmp_path}", "run.name=p"])
    pretrain(cfg)
    rows = list(csv.DictReader(open(tmp_path / "p" / "splits.csv")))
    assert len(rows) == 3 * 64 and rows[0]["path"].startswith("builtin:pneumoniamnist#")


def test_dicom_folder_exact_copy_across_splits(tmp_path):
    from test_data import write_dicom

    rng = np.random.default_rng(9)
    root = tmp_path / "dcm"
    imgs = [smooth_image(rng, 64).astype(np.int64) for _ in range(6)]
    for i, x in enumerate(imgs):
        write_dicom(root / ("train" if i < 4 else "test") / ("a" if i % 2 else "b") / f"s{i}.dcm", x)
    write_dicom(root / "test" / "a" / "copy.dcm", imgs[1])  # same pixels, another file
    res = check_data(DataConfig(path=str(root), val_fraction=0.0))
    assert [sorted(m["id"] for m in g["members"]) for g in res.exact_groups] == [["test/a/copy.dcm", "train/a/s1.dcm"]]
    assert res.leaks["test"]["exact"] == 1 and res.near_groups == []


@pytest.mark.parametrize("dims", [2, 3])
def test_validation_pass_hands_its_hashes_to_the_check(tmp_path, leaky_folder, monkeypatch, dims):
    """`medfx run` decodes each file once: the hashes of the validation pass (``DecodedHashes``) are the ones the
    check computes by itself on an empty cache, and the check and the split manifest then decode nothing."""
    import medfx.data.check as chk
    from medfx.data import validate

    if dims == 2:
        cfg = DataConfig(path=str(leaky_folder[0]), val_fraction=0.0, size=(64, 64))
    else:
        import nibabel as nib

        rng = np.random.default_rng(3)
        rows = []
        for i in range(6):
            nib.save(nib.Nifti1Image(_volume(rng, 16).astype(np.float32), np.eye(4)), tmp_path / f"v{i}.nii.gz")
            rows.append((f"v{i}.nii.gz", i % 2, "test" if i >= 4 else "train"))
        with open(tmp_path / "vols.csv", "w", newline="") as f:
            csv.writer(f).writerows([("path", "label", "split"), *rows])
        cfg = DataConfig(path=str(tmp_path / "vols.csv"), val_fraction=0.0, size=(16, 16, 16))
    reference = check_data(cfg, cache_dir=tmp_path / "own")  # the check decoding every file itself
    write_split_manifest(cfg, tmp_path / "own.csv", cache_dir=tmp_path / "own_manifest")

    hashes = chk.DecodedHashes(tmp_path / "warm", [CheckConfig(near=False), CheckConfig()])
    seen = []
    for ds in load_splits(cfg).values():
        validate(ds, on_decoded=lambda path, x: seen.append(path) or hashes(path, x))
    hashes.close()
    decoded = []
    real = chk.read_image
    monkeypatch.setattr(chk, "read_image", lambda *a, **k: decoded.append(a[0]) or real(*a, **k))
    res = check_data(cfg, cache_dir=tmp_path / "warm")
    write_split_manifest(cfg, tmp_path / "warm.csv", cache_dir=tmp_path / "warm")
    assert len(seen) == res.timing["items"] and decoded == []
    assert res.timing["cached"] == res.timing["items"]
    mine, ref = res.to_dict(), reference.to_dict()
    for key in ("exact_groups", "near_groups", "issues", "leaks"):
        assert mine[key] == ref[key], key
    assert (tmp_path / "warm.csv").read_text() == (tmp_path / "own.csv").read_text()


def test_cli_split_fractions_reach_the_manifest(tmp_path, capsys):
    """--val-fraction / --test-fraction carve a split-less folder as load_splits does with those fractions."""
    from medfx.cli import main

    rng = np.random.default_rng(3)
    root = tmp_path / "flat"
    for i in range(40):
        save(smooth_image(rng), root / ("a" if i % 2 else "b") / f"im{i:02d}.png")
    counts = {}
    for fr in (("0.1", "0.2"), ("0.25", "0.4")):
        manifest = tmp_path / f"m{fr[1]}.csv"
        assert main(["data", "check", str(root), "--out", str(tmp_path / "out"), "--no-cache", "--dedup",
                     str(manifest), "--val-fraction", fr[0], "--test-fraction", fr[1]]) == 0
        rows = list(csv.DictReader(open(manifest)))
        counts[fr] = {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test")}
        ref = load_splits(DataConfig(path=str(root), val_fraction=float(fr[0]), test_fraction=float(fr[1])))
        assert counts[fr] == {s: len(ref[s]) for s in ("train", "val", "test")}
    assert counts[("0.25", "0.4")]["test"] == 16 and counts[("0.1", "0.2")]["test"] == 8
    capsys.readouterr()
    rc = main(["data", "check", str(root), "--out", str(tmp_path / "out"), "--no-cache", "--val-fraction", "0.6",
               "--test-fraction", "0.5"])
    assert rc != 0 and "val_fraction + test_fraction must be below 1" in capsys.readouterr().err
