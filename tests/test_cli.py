"""Command line: bad input gives one clear line and no finished-looking run directory; data info; help."""

import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from conftest import TINY_UNET, make_npz

from medfx.cli import main


def run_cli(capsys, *argv):
    rc = main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def pretrain(capsys, tmp_path, *extra):
    return run_cli(capsys, "pretrain", f"run.out_dir={tmp_path / 'runs'}", "run.name=r", *TINY_UNET,
                   "train.steps=1", "train.batch_size=4", *extra)


def assert_clean_failure(rc, err, *fragments, runs=None):
    assert rc == 2
    lines = [x for x in err.strip().splitlines() if x.startswith("medfx: error:")]
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    if runs is not None:
        assert not (runs / "r" / "done.json").exists()
        assert not (runs / "r").exists()


def write_png(path, arr):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def write_nii(path, arr):
    nib.save(nib.Nifti1Image(arr.astype(np.float32), np.eye(4)), str(path))


def test_missing_file(capsys, tmp_path):
    rc, _, err = pretrain(capsys, tmp_path, f"data.path={tmp_path / 'nope.npz'}")
    assert_clean_failure(rc, err, "nope.npz", runs=tmp_path / "runs")


def test_corrupt_image(capsys, tmp_path):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        for i in range(4):
            write_png(tmp_path / "imgs" / c / f"{i}.png", rng.integers(0, 255, (16, 16), dtype=np.uint8))
    (tmp_path / "imgs" / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    rc, _, err = pretrain(capsys, tmp_path, f"data.path={tmp_path / 'imgs'}")
    assert_clean_failure(rc, err, "broken.png", runs=tmp_path / "runs")


def _nifti_csv(tmp_path, rows):
    lines = ["path,label"] + [f"{p},{lab}" for p, lab in rows]
    csv = tmp_path / "vols.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


def test_csv_row_pointing_nowhere(capsys, tmp_path):
    rows = []
    for i in range(6):
        write_nii(tmp_path / f"v{i}.nii.gz", np.random.rand(8, 8, 8))
        rows.append((f"v{i}.nii.gz", i % 2))
    rows.append(("missing_volume.nii.gz", 1))
    rc, _, err = pretrain(capsys, tmp_path, f"data.path={_nifti_csv(tmp_path, rows)}")
    assert_clean_failure(rc, err, "missing_volume.nii.gz", runs=tmp_path / "runs")


def test_single_class_labels(capsys, tmp_path):
    rows = []
    for i in range(6):
        write_nii(tmp_path / f"v{i}.nii.gz", np.random.rand(8, 8, 8))
        rows.append((f"v{i}.nii.gz", 1))
    rc, _, err = pretrain(capsys, tmp_path, f"data.path={_nifti_csv(tmp_path, rows)}")
    assert_clean_failure(rc, err, "vols.csv", "class", runs=tmp_path / "runs")


def test_mixed_2d_3d(capsys, tmp_path):
    write_nii(tmp_path / "a.nii.gz", np.random.rand(8, 8, 8))
    write_nii(tmp_path / "b.nii.gz", np.random.rand(8, 8))
    write_nii(tmp_path / "c.nii.gz", np.random.rand(8, 8, 8))
    rows = [("a.nii.gz", 0), ("b.nii.gz", 1), ("c.nii.gz", 1)]
    rc, _, err = pretrain(capsys, tmp_path, f"data.path={_nifti_csv(tmp_path, rows)}")
    assert_clean_failure(rc, err, "b.nii.gz", runs=tmp_path / "runs")


def test_nan_voxels(capsys, tmp_path):
    path = make_npz(tmp_path / "nan.npz")
    d = dict(np.load(path))
    x = d["train_images"].astype(np.float32)
    x[3, 2, 2] = np.nan
    d["train_images"] = x
    np.savez(path, **d)
    rc, _, err = pretrain(capsys, tmp_path, f"data.path={path}")
    assert_clean_failure(rc, err, "nan.npz", runs=tmp_path / "runs")
    assert "NaN" in err or "nan" in err.lower()


def test_empty_dataset(capsys, tmp_path):
    (tmp_path / "empty" / "a").mkdir(parents=True)
    rc, _, err = pretrain(capsys, tmp_path, f"data.path={tmp_path / 'empty'}")
    assert_clean_failure(rc, err, "empty", runs=tmp_path / "runs")


def test_config_typo_suggests_key(capsys, tmp_path):
    rc, _, err = pretrain(capsys, tmp_path, "train.stpes=3")
    assert_clean_failure(rc, err, "train.stpes", "did you mean 'steps'", runs=tmp_path / "runs")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("trian:\n  steps: 3\n")
    rc, _, err = run_cli(capsys, "pretrain", str(cfg))
    assert_clean_failure(rc, err, "trian", "did you mean 'train'")
    rc, _, err = run_cli(capsys, "pretrain", "train.steps=many")
    assert_clean_failure(rc, err, "train.steps", "integer")


def test_checkpoint_of_other_architecture(capsys, tmp_path, npz2d):
    rc, _, err = pretrain(capsys, tmp_path, f"data.path={npz2d}")
    assert rc == 0, err
    rc, _, err = run_cli(capsys, "finetune", f"data.path={npz2d}", f"run.out_dir={tmp_path / 'runs'}",
                         "run.name=ft", "model.unet.channels=[16,32]", "model.unet.norm_num_groups=8",
                         "model.unet.attention_levels=[False,True]", "model.unet.num_head_channels=[8]",
                         "--from", str(tmp_path / "runs" / "r" / "last.pt"))
    assert_clean_failure(rc, err, "last.pt", "architecture")
    assert not (tmp_path / "runs" / "ft").exists()
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    rc, _, err = run_cli(capsys, "finetune", f"data.path={npz2d}", "--from", str(tmp_path / "junk.pt"))
    assert_clean_failure(rc, err, "junk.pt")


@pytest.mark.parametrize("kind", ["npz2d", "npz3d", "folder", "nifti", "builtin"])
def test_data_info_each_format(capsys, tmp_path, kind, request):
    if kind in ("npz2d", "npz3d"):
        path = request.getfixturevalue(kind)
    elif kind == "folder":
        for c in ("cats", "dogs"):
            for i in range(3):
                write_png(tmp_path / "f" / c / f"{i}.png", np.full((12, 12), 40 * i, np.uint8))
        path = tmp_path / "f"
    elif kind == "nifti":
        for i in range(4):
            write_nii(tmp_path / f"v{i}.nii.gz", np.random.rand(6, 6, 6))
        path = _nifti_csv(tmp_path, [(f"v{i}.nii.gz", i % 2) for i in range(4)])
    else:
        path = "builtin:adrenalmnist3d"
    rc, out, err = run_cli(capsys, "data", "info", str(path))
    assert rc == 0, err
    assert "train" in out
    if kind == "folder":
        assert "cats" in out and "dogs" in out
    if kind == "builtin":
        assert "3" in out and "1188" in out  # 3D, 1188 training volumes


def test_blocks_command(capsys):
    rc, out, err = run_cli(capsys, "blocks", "tiny", "--input-size", "16", "16")
    assert rc == 0, err
    assert "mid" in out and "up.1" in out and "(16, 16, 16)" in out


def test_module_entry_point_and_help():
    out = subprocess.run([sys.executable, "-m", "medfx", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "pretrain" in out.stdout and "probe" in out.stdout


def test_overrides_after_options_are_config_items(capsys):
    rc, out, err = run_cli(capsys, "pretrain", "--dry-run", "train.steps=7", "preset=tiny")
    assert rc == 0, err
    assert "steps: 7" in out
    with pytest.raises(SystemExit):
        main(["pretrain", "--dry-run", "--bogus"])


def test_list_overrides_with_or_without_quotes(capsys):
    from medfx.config import load_config

    for raw in ("['cats','dcube']", "[cats, dcube]", "[cats,dcube]"):
        assert list(load_config(None, [f"heads.methods={raw}"]).heads.methods) == ["cats", "dcube"]
    assert list(load_config(None, ["features.timesteps=[0,10]"]).features.timesteps) == [0, 10]
    rc, _, err = run_cli(capsys, "pretrain", "--dry-run", "heads.methods=[cats, dcube")
    assert_clean_failure(rc, err, "heads.methods")
