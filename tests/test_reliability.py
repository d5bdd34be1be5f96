"""Reliability and safety (issue 14): nothing lost, no user-supplied code run, every failure one clear line, before
work starts. Each test builds its own hostile input; the slow ones (kill -9 and resume) are marked ``slow``."""

import errno
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_UNET, make_npz

from medfx.cli import main
from medfx.utils.errors import CheckpointError, DataError, LockError, MedfxError, OutputError

ROOT = Path(__file__).resolve().parents[1]


def run_cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def one_error_line(rc, err, *fragments):
    """Exit status 2 and exactly one ``medfx: error:`` line (no traceback) containing every fragment."""
    assert rc == 2, err
    assert "Traceback" not in err, err
    lines = [x[x.index("medfx: error:"):] for x in err.replace("\r", "\n").splitlines() if "medfx: error:" in x]
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def pretrain_args(data, out, name="r", *extra):
    return ["pretrain", f"data.path={data}", f"run.out_dir={out}", f"run.name={name}", *TINY_UNET,
            "train.batch_size=4", *extra]


class Payload:
    """A pickle payload: unpickling it calls ``open(marker, "w")``, i.e. creates a file. It must never run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny 2D run (2 steps) shared by the checkpoint tests: (data npz, run dir)."""
    root = tmp_path_factory.mktemp("trained")
    data = make_npz(root / "toy.npz")
    assert main(pretrain_args(data, root / "runs", "base", "train.steps=2", "train.ckpt_every=2")) == 0
    return data, root / "runs" / "base"


# -- 1. never delete what medfx did not create -------------------------------------------------------------
def test_extract_into_a_foreign_folder_is_refused_and_nothing_is_deleted(capsys, trained, tmp_path):
    data, run = trained
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("precious")
    (mine / "sub" / "data.csv").write_text("a,b\n")
    rc, _, err = run_cli(capsys, "extract", "--ckpt", run / "last.pt", "--out", mine, "features.timesteps=[0]")
    one_error_line(rc, err, str(mine), "did not create")
    assert (mine / "notes.txt").read_text() == "precious" and (mine / "sub" / "data.csv").exists()
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt", "sub"]


def test_extract_out_that_is_a_file_fails_before_extraction(capsys, trained, tmp_path):
    _, run = trained
    f = tmp_path / "afile"
    f.write_text("x")
    rc, _, err = run_cli(capsys, "extract", "--ckpt", run / "last.pt", "--out", f, "features.timesteps=[0]")
    one_error_line(rc, err, "afile", "is a file")
    assert f.read_text() == "x" and not list(tmp_path.glob("*partial*")) and not list(tmp_path.glob(".afile*"))


def test_bank_rebuild_replaces_only_its_own_folder(capsys, trained, tmp_path):
    _, run = trained
    out = tmp_path / "bank"
    assert run_cli(capsys, "extract", "--ckpt", run / "last.pt", "--out", out, "features.timesteps=[0]")[0] == 0
    assert (out / ".medfx-owned").is_file()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["complete"] and meta["rows"] == 40 and len(meta["files"]) == len(meta["blocks"])
    assert run_cli(capsys, "extract", "--ckpt", run / "last.pt", "--out", out, "features.timesteps=[0,5]")[0] == 0
    meta2 = json.loads((out / "meta.json").read_text())
    assert meta2["timesteps"] == [0, 5] and not [p for p in tmp_path.iterdir() if "partial" in p.name
                                                  or ".old-" in p.name]


def test_pretrain_into_a_foreign_folder_is_refused(capsys, tmp_path):
    data = make_npz(tmp_path / "toy.npz")
    foreign = tmp_path / "out" / "docs"
    foreign.mkdir(parents=True)
    (foreign / "thesis.tex").write_text("x")
    rc, _, err = run_cli(capsys, *pretrain_args(data, tmp_path / "out", "docs", "train.steps=1"))
    one_error_line(rc, err, "docs", "did not create")
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.tex"]


def test_claim_and_remove_owned(tmp_path):
    from medfx.utils.fs import claim_dir, is_owned, remove_owned

    new = claim_dir(tmp_path / "a" / "b")
    assert is_owned(new)
    (tmp_path / "empty").mkdir()
    assert is_owned(claim_dir(tmp_path / "empty"))
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "f").write_text("1")
    with pytest.raises(OutputError, match="did not create"):
        claim_dir(tmp_path / "user")
    with pytest.raises(OutputError, match="refusing to delete"):
        remove_owned(tmp_path / "user")
    assert (tmp_path / "user" / "f").exists()
    remove_owned(new)
    assert not new.exists()


# -- 2. run no user-supplied code --------------------------------------------------------------------------
class _EvilInception(torch.nn.Module):
    """TorchScript whose forward writes a file (through a shared mapping): the code must not run by default."""

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.from_file(self.marker, shared=True, size=4, dtype=torch.uint8)
        t.fill_(65)
        return x.flatten(1)[:, :2048].float() + t.float().sum() * 0.0


def _evil_torchscript(tmp_path):
    marker = tmp_path / "PWNED_ts"
    path = tmp_path / "inception-2015-12-05.pt"
    torch.jit.save(torch.jit.script(_EvilInception(str(marker))), str(path))
    return path, marker


def _image_folder(root, n=6, size=8):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_inception_weights_are_refused_and_do_not_run(capsys, tmp_path):
    from medfx.metrics import InceptionDetector

    path, marker = _evil_torchscript(tmp_path)
    imgs = _image_folder(tmp_path / "imgs")
    rc, _, err = run_cli(capsys, "fid", imgs, imgs, "--detector", "inception", "--weights", path, "--k", "2",
                         "--out", tmp_path / "fid.json")
    one_error_line(rc, err, "TorchScript", "--trust-torchscript-code")
    assert not marker.exists() and not (tmp_path / "fid.json").exists()
    # the control: opting in does run the file's code (so the refusal above is what protects the user)
    InceptionDetector(path, feature_dim=2048, allow_torchscript=True)(torch.zeros(1, 1, 8, 8))
    assert marker.exists()


def _pickle_bomb(tmp_path, name="evil.pt", wrap=None):
    marker = tmp_path / f"PWNED_{name}"
    obj = Payload(marker)
    torch.save(wrap(obj) if wrap else obj, tmp_path / name)
    return tmp_path / name, marker


@pytest.mark.parametrize("command", ["extract", "probe", "gaussianity", "sample", "synthesize", "finetune", "blocks",
                                     "fid", "run", "train-head"])
def test_pickle_payload_never_runs(capsys, tmp_path, command):
    data = make_npz(tmp_path / "toy.npz")
    evil, marker = _pickle_bomb(tmp_path, wrap=lambda p: {"format": "medfx-checkpoint-v1", "config": {}, "x": p})
    argv = {
        "extract": ["extract", "--ckpt", evil, "--out", tmp_path / "bank"],
        "probe": ["probe", "--ckpt", evil, "--out", tmp_path / "bank"],
        "gaussianity": ["gaussianity", "--ckpt", evil, "--out", tmp_path / "bank"],
        "synthesize": ["synthesize", "--ckpt", evil, "--balance", "1.0", "--out", tmp_path / "bank"],
        "train-head": ["train-head", "preset=tiny", f"data.path={data}", f"run.out_dir={tmp_path / 'runs'}",
                       "--ckpt", evil],
        "sample": ["sample", evil, "--n", "2", "--steps", "2", "--out", tmp_path / "s"],
        "finetune": ["finetune", f"data.path={data}", f"run.out_dir={tmp_path}", *TINY_UNET, "--from", evil],
        "blocks": ["blocks", evil],
        "fid": ["fid", data, data, "--detector", "inception", "--weights", evil, "--k", "2"],
        "run": ["run", "preset=tiny", f"data.path={data}", f"run.out_dir={tmp_path / 'runs'}",
                f"pipeline.checkpoint={evil}"],
    }[command]
    rc, _, err = run_cli(capsys, *argv)
    one_error_line(rc, err, "evil.pt", "not a safe")
    assert not marker.exists()
    assert not (tmp_path / "runs").exists() and not (tmp_path / "bank").exists()


def test_classifier_and_dcube_weights_files_are_loaded_safely(tmp_path):
    from medfx.heads import load_classifier
    from medfx.heads.dcube import _build_resnet

    evil, marker = _pickle_bomb(tmp_path, "model.pt")
    with pytest.raises(CheckpointError, match="model.pt: is not a safe classifier file"):
        load_classifier(evil)
    with pytest.raises(CheckpointError, match="is not a safe pretrained ResNet"):
        _build_resnet("resnet10", 2, 1, 2, str(evil))
    assert not marker.exists()
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError, match="is not a valid classifier file"):  # broken, not "unsafe"
        load_classifier(garbage)
    trunc = tmp_path / "trunc.pt"
    torch.save({"w": torch.zeros(1000)}, trunc)
    trunc.write_bytes(trunc.read_bytes()[:600])
    with pytest.raises(CheckpointError, match="trunc.pt: is not a valid classifier file .damaged or truncated"):
        load_classifier(trunc)


def test_yaml_python_tags_and_non_string_preset(capsys, tmp_path):
    marker = tmp_path / "PWNED_yaml"
    bad = tmp_path / "evil.yaml"
    bad.write_text(f"train: !!python/object/apply:os.system ['touch {marker}']\n")
    rc, _, err = run_cli(capsys, "pretrain", bad, "--dry-run")
    one_error_line(rc, err, "evil.yaml", "not valid YAML")
    assert not marker.exists()
    p7 = tmp_path / "p7.yaml"
    p7.write_text("preset: 7\n")
    rc, _, err = run_cli(capsys, "pretrain", p7, "--dry-run")
    one_error_line(rc, err, "p7.yaml", "preset", "7")


# -- 3. locks, atomic publication ----------------------------------------------------------------------------
_HOLD = ("import sys, time; from medfx.utils.fs import locked\n"
         "with locked(sys.argv[1], 'test output'):\n    print('held', flush=True); time.sleep(60)\n")


def _hold_lock(path):
    p = subprocess.Popen([sys.executable, "-c", _HOLD, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.stdout.readline().strip() == "held"
    return p


def test_lock_stops_a_second_writer_and_dies_with_its_process(tmp_path, monkeypatch):
    from medfx.utils.fs import locked

    target = tmp_path / "bank"
    holder = _hold_lock(target)
    try:
        with pytest.raises(LockError, match=f"pid {holder.pid}"):
            with locked(target, "feature bank"):
                pass
        monkeypatch.setenv("MEDFX_LOCK_WAIT", "0.5")
        t0 = time.monotonic()
        with pytest.raises(LockError, match="after waiting 0.5 s"):
            with locked(target):
                pass
        assert time.monotonic() - t0 >= 0.5
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with locked(target):  # kill -9 released it: no stale lock
        with locked(target):  # re-entrant in one process
            pass


def test_second_pretrain_into_a_locked_run_dir_stops(capsys, tmp_path):
    data = make_npz(tmp_path / "toy.npz")
    holder = _hold_lock(tmp_path / "runs" / "r")
    try:
        rc, _, err = run_cli(capsys, *pretrain_args(data, tmp_path / "runs", "r", "train.steps=1"))
        one_error_line(rc, err, "being written by another medfx process", f"pid {holder.pid}")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not (tmp_path / "runs" / "r" / "metrics.jsonl").exists()


def test_bank_readers_verify_row_count_and_checksum(capsys, caplog, trained, tmp_path):
    from medfx.features.bank import FeatureBank

    _, run = trained
    out = tmp_path / "bank"
    assert run_cli(capsys, "extract", "--ckpt", run / "last.pt", "--out", out, "features.timesteps=[0]")[0] == 0
    bank = FeatureBank(out)
    f = out / next(iter(json.loads((out / "meta.json").read_text())["files"]))
    arr = np.load(f, mmap_mode="r+")
    arr[3] = 0.0  # a half-written row
    arr.flush()
    del arr, bank
    with pytest.raises(DataError, match="checksum differs"):
        FeatureBank(out)
    rc, _, err = run_cli(capsys, "extract", "--ckpt", run / "last.pt", "--out", out, "features.timesteps=[0]")
    log = err + caplog.text
    assert rc == 0 and "failed verification" in log and "rebuilding" in log
    FeatureBank(out)  # rebuilt and verified
    meta = json.loads((out / "meta.json").read_text())
    meta["complete"] = False
    (out / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="incomplete"):
        FeatureBank(out)


@pytest.mark.slow
def test_two_extracts_racing_leave_one_complete_verified_bank(trained, tmp_path):
    _, run = trained
    out = tmp_path / "bank"
    cmd = [sys.executable, "-m", "medfx", "extract", "--ckpt", str(run / "last.pt"), "--out", str(out),
           "features.timesteps=[0,5,10]"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes in ([0, 0], [0, 2]), results  # the second one either reused the bank or stopped at the lock
    for rc, err in results:
        if rc == 2:
            assert "being written by another medfx process" in err
    from medfx.features.bank import FeatureBank

    FeatureBank(out, verify=True)


# -- 4. validate before work starts --------------------------------------------------------------------------
def test_checkpoint_without_usable_config_is_refused(capsys, trained, tmp_path):
    from medfx.models.checkpoint import load_checkpoint, save_safetensors

    _, run = trained
    ck = load_checkpoint(run / "last.pt")
    for name, cfg in (("str", "not a dict"), ("none", None), ("nodiff", {"data": ck["config"]["data"]})):
        bad = tmp_path / f"cfg_{name}.pt"
        torch.save({**ck, "config": cfg}, bad)
        rc, _, err = run_cli(capsys, "extract", "--ckpt", bad, "--out", tmp_path / f"b_{name}")
        one_error_line(rc, err, bad.name, "config")
        assert not (tmp_path / f"b_{name}").exists()
    st = tmp_path / "noconfig.safetensors"
    save_safetensors(st, ck["ema"], ck["backbone"], {}, 2)
    from safetensors.torch import load_file, save_file

    save_file(load_file(str(st)), str(st), metadata={"backbone": json.dumps(ck["backbone"]), "step": "2"})
    rc, _, err = run_cli(capsys, "extract", "--ckpt", st, "--out", tmp_path / "b_st")
    one_error_line(rc, err, "noconfig.safetensors", "no usable stored config")
    save_file(load_file(str(st)), str(st), metadata={"backbone": "{not json", "step": "ten"})
    rc, _, err = run_cli(capsys, "extract", "--ckpt", st)
    one_error_line(rc, err, "noconfig.safetensors", "'backbone'")
    torch.save({"format": "medfx-checkpoint-v1"}, tmp_path / "nokeys.pt")
    rc, _, err = run_cli(capsys, "blocks", tmp_path / "nokeys.pt")
    one_error_line(rc, err, "nokeys.pt", "damaged medfx checkpoint")


def test_pipeline_rejects_one_class_split_and_truncated_test_image_before_training(capsys, tmp_path):
    from PIL import Image

    data = make_npz(tmp_path / "toy.npz")
    runs = tmp_path / "runs"
    rc, _, err = run_cli(capsys, "run", "preset=tiny", f"data.path={data}", f"run.out_dir={runs}",
                         "data.max_per_split=1")
    one_error_line(rc, err, "only class", "data.max_per_split=1")
    assert not runs.exists()
    root = tmp_path / "folder"
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            for i in range(3):
                Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(root / split / c / f"{i}.jpg")
    jpg = root / "test" / "a" / "0.jpg"
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(buf, "JPEG", quality=95)
    jpg.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])  # header intact, body cut
    rc, _, err = run_cli(capsys, "run", "preset=tiny", f"data.path={root}", f"run.out_dir={runs}", "data.size=null")
    one_error_line(rc, err, "0.jpg")
    assert not runs.exists()


def test_bad_train_settings_fail_without_leaving_a_run_dir(capsys, tmp_path):
    data = make_npz(tmp_path / "toy.npz")
    runs = tmp_path / "runs"
    for extra, frag in ((["train.lr=-1.0"], "lr must be a positive"),
                        (["train.precision=fp16", "run.device=cpu"], "fp16 needs CUDA"),
                        (["run.name=../../escaped"], "plain folder name")):
        rc, _, err = run_cli(capsys, *pretrain_args(data, runs, "r", "train.steps=1", *extra))
        one_error_line(rc, err, frag)
        assert not runs.exists() and not (tmp_path.parent / "escaped").exists()


def test_ckpt_every_below_log_every_and_batch_larger_than_data(capsys, caplog, tmp_path):
    data = make_npz(tmp_path / "toy.npz", n=(6, 4, 4))
    rc, _, err = run_cli(capsys, *pretrain_args(data, tmp_path / "runs", "r", "train.steps=2", "train.ckpt_every=1",
                                               "train.log_every=5", "train.batch_size=12"))
    assert rc == 0, err
    assert "train.batch_size=12 is larger than the 6 training images" in err + caplog.text
    assert (tmp_path / "runs" / "r" / "done.json").exists() and not (tmp_path / "runs" / "r" / "FAILED").exists()


def test_finetune_from_a_foreign_state_dict(capsys, tmp_path):
    data = make_npz(tmp_path / "toy.npz")
    torch.save({"foo": torch.zeros(2)}, tmp_path / "foreign.pt")
    rc, _, err = run_cli(capsys, "finetune", f"data.path={data}", f"run.out_dir={tmp_path / 'runs'}", *TINY_UNET,
                         "train.steps=1", "--from", tmp_path / "foreign.pt")
    one_error_line(rc, err, "foreign.pt", "not a state dict of this MONAI DiffusionModelUNet")
    assert not (tmp_path / "runs").exists()


def test_blocks_on_a_text_file(capsys, tmp_path):
    f = tmp_path / "readme.txt"
    f.write_text("hi")
    rc, _, err = run_cli(capsys, "blocks", f)
    one_error_line(rc, err, "readme.txt", "not a checkpoint")


@pytest.mark.slow
def test_3d_checkpoint_on_2d_data(capsys, trained, tmp_path):
    data2d, _ = trained
    data3d = make_npz(tmp_path / "toy3d.npz", spatial=(8, 8, 8), n=(8, 4, 4))
    assert main(["pretrain", f"data.path={data3d}", f"run.out_dir={tmp_path}", "run.name=r3", *TINY_UNET,
                 "model.unet.spatial_dims=3", "train.steps=1", "train.batch_size=4"]) == 0
    capsys.readouterr()
    rc, _, err = run_cli(capsys, "extract", "--ckpt", tmp_path / "r3" / "last.pt", f"data.path={data2d}",
                         "data.size=null", "features.timesteps=[0]", "--out", tmp_path / "b")
    one_error_line(rc, err, "last.pt", "3D model cannot read the 2D images")
    assert not (tmp_path / "b").exists()


def test_fid_k_not_below_the_number_of_images(capsys, tmp_path):
    imgs = _image_folder(tmp_path / "imgs", n=3)
    rc, _, err = run_cli(capsys, "fid", imgs, imgs, "--k", "500", "--out", tmp_path / "fid.json")
    one_error_line(rc, err, "--k 500", "real 6, fake 6")
    assert not (tmp_path / "fid.json").exists()


# -- 5. bounded memory on hostile input ---------------------------------------------------------------------
def _bomb_npz(path, shape=(1_500_000, 64, 64)):
    """An npz whose image header declares ``shape`` (6.1 GB for the default) over a few bytes of body."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": shape})
    lab = io.BytesIO()
    np.save(lab, np.zeros(8, dtype=np.int64))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("train_images.npy", buf.getvalue() + b"\0" * 64)
        z.writestr("train_labels.npy", lab.getvalue())
    return path


def _huge_nifti(path, shape=(2000, 2000, 2000)):
    import nibabel as nib

    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(np.float32)
    hdr["vox_offset"] = 352
    path.write_bytes(hdr.binaryblock + b"\0" * 4 + b"\0" * 256)
    return path


def _hostile_inputs(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (20, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "huge_label.npz", train_images=x, train_labels=np.array([0, 10**12] * 10))
    np.savez(tmp_path / "float_label.npz", train_images=x, train_labels=np.array([0.7, 1.2] * 10))
    np.savez(tmp_path / "str_label.npz", train_images=x, train_labels=np.array(["x", "y"] * 10))
    (tmp_path / "garbage.npz").write_bytes(np.random.default_rng(1).bytes(2000))
    _bomb_npz(tmp_path / "bomb.npz")
    _huge_nifti(tmp_path / "huge.nii")
    _huge_nifti(tmp_path / "huge_b.nii")
    (tmp_path / "huge.csv").write_text("path,label\nhuge.nii,0\nhuge_b.nii,1\n")
    return {
        "huge_label.npz": "label 1000000000000",
        "float_label.npz": "non-integer label 0.7",
        "str_label.npz": "labels must be integer class indices",
        "garbage.npz": "not an npz archive",
        "bomb.npz": "declares 6.1 GB of images",
        "huge.csv": "huge.nii: header declares 2000x2000x2000 voxels",
    }


def test_hostile_sizes_and_labels_in_process(capsys, tmp_path):
    for name, frag in _hostile_inputs(tmp_path).items():
        rc, _, err = run_cli(capsys, "data", "info", tmp_path / name)
        one_error_line(rc, err, frag)


@pytest.mark.slow
def test_hostile_sizes_under_a_memory_cap(tmp_path):
    """The same files through `medfx data info` and `medfx pretrain`, in one subprocess whose address space is
    capped at 3 GB: each must end in its one-line error, never a MemoryError or a blow-up."""
    cases = _hostile_inputs(tmp_path)
    script = ("import contextlib, io, json, resource, sys\n"
              "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
              "from medfx.cli import main\n"
              "out = []\n"
              "for argv in json.loads(sys.argv[1]):\n"
              "    err = io.StringIO()\n"
              "    with contextlib.redirect_stderr(err):\n"
              "        rc = main(argv)\n"
              "    out.append([rc, err.getvalue()])\n"
              "print(json.dumps(out))\n")
    runs = tmp_path / "runs"
    argvs, frags = [], []
    for name, frag in cases.items():
        argvs.append(["data", "info", str(tmp_path / name)])
        argvs.append(["pretrain", f"data.path={tmp_path / name}", f"run.out_dir={runs}", "train.steps=1",
                      *TINY_UNET])
        frags += [frag, frag]
    p = subprocess.run([sys.executable, "-c", script, json.dumps(argvs)], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    results = json.loads(p.stdout.strip().splitlines()[-1])
    for argv, frag, (rc, err) in zip(argvs, frags, results):
        assert rc == 2, (argv, err)
        assert frag in err and "Traceback" not in err and "MemoryError" not in err, (argv, err)
    assert not runs.exists()


def test_data_info_reads_npz_headers_not_arrays(monkeypatch, tmp_path):
    from medfx.data import describe

    path = make_npz(tmp_path / "toy.npz")
    calls = []
    real_load = np.load

    def spy(file, *a, **k):
        obj = real_load(file, *a, **k)
        if hasattr(obj, "files"):
            getitem = obj.__class__.__getitem__

            class Spy(obj.__class__):
                def __getitem__(self, key):
                    calls.append(key)
                    return getitem(self, key)

            obj.__class__ = Spy
        return obj

    monkeypatch.setattr(np, "load", spy)
    info = describe(str(path))
    assert info.n_items == 40 and info.raw_range[1] == 220
    assert calls and not any(k.endswith("images") for k in calls), calls


def test_dicom_without_pixels_and_zero_length_axis(capsys, tmp_path):
    import nibabel as nib
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "SR"
    folder = _image_folder(tmp_path / "imgs", n=2)
    ds.save_as(folder / "a" / "report.dcm", enforce_file_format=True)
    rc, _, err = run_cli(capsys, "data", "info", folder)
    one_error_line(rc, err, "report.dcm", "no pixel data")
    vol = tmp_path / "vols"
    vol.mkdir()
    nib.save(nib.Nifti1Image(np.zeros((16, 0, 16), np.float32), np.eye(4)), str(vol / "z.nii.gz"))
    nib.save(nib.Nifti1Image(np.zeros((16, 16, 16), np.float32), np.eye(4)), str(vol / "ok.nii.gz"))
    (vol / "l.csv").write_text("path,label\nz.nii.gz,0\nok.nii.gz,1\n")
    rc, _, err = run_cli(capsys, "data", "info", vol / "l.csv")
    one_error_line(rc, err, "z.nii.gz", "zero-length axis")


# -- 6. one line per error; OS errors; resume -----------------------------------------------------------------
def test_os_errors_become_one_line():
    from medfx.cli import error_line

    assert error_line(OSError(errno.EROFS, "Read-only file system", "/mnt/ro/x")) == \
        "/mnt/ro/x: the file system is read-only"
    assert "not a folder" in error_line(NotADirectoryError(errno.ENOTDIR, "Not a directory", "/a/file/x"))
    wrapped = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert error_line(wrapped).startswith("no space left on the device")
    assert isinstance(CheckpointError("x"), MedfxError) and isinstance(DataError("x"), ValueError)


def test_read_only_output_folder_and_out_dir_that_is_a_file(capsys, monkeypatch, tmp_path):
    """A read-only file system (simulated: every mkdir / open for writing under ``ro`` raises EROFS, as on a
    read-only mount, which also works as root) and ``run.out_dir`` pointing to a file."""
    data = make_npz(tmp_path / "toy.npz")
    ro = tmp_path / "ro"
    ro.mkdir()
    real_mkdir, real_open = Path.mkdir, os.open

    def ro_mkdir(self, *a, **k):
        if str(self).startswith(str(ro)):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *a, **k)

    def ro_open(path, flags, *a, **k):
        if str(path).startswith(str(ro)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(Path, "mkdir", ro_mkdir)
    monkeypatch.setattr(os, "open", ro_open)
    rc, _, err = run_cli(capsys, *pretrain_args(data, ro, "r", "train.steps=1"))
    one_error_line(rc, err, str(ro), "read-only")
    monkeypatch.undo()
    rc, _, err = run_cli(capsys, *pretrain_args(data, tmp_path / "toy.npz", "r", "train.steps=1"))
    one_error_line(rc, err, "toy.npz", "is a file")


def test_disk_full_while_checkpointing_then_resume_from_newest_complete(capsys, caplog, monkeypatch, tmp_path):
    import medfx.models.checkpoint as ckmod

    data = make_npz(tmp_path / "toy.npz")
    args = pretrain_args(data, tmp_path / "runs", "r", "train.steps=4", "train.ckpt_every=2", "train.log_every=1")
    real_save = torch.save
    calls = {"n": 0}

    def full_disk(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # ckpt-0000002.pt is written, the first last.pt write hits a full disk
            Path(f).write_bytes(b"\0" * 100)
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos") from OSError(
                errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(ckmod.torch, "save", full_disk)
    rc, _, err = run_cli(capsys, *args)
    one_error_line(rc, err, "no space left on the device")
    run = tmp_path / "runs" / "r"
    assert (run / "ckpt-0000002.pt").exists() and not (run / "last.pt").exists()
    assert (run / "FAILED").exists()  # a temp file may be left (as on a real full disk) or already removed
    monkeypatch.setattr(ckmod.torch, "save", real_save)
    rc, _, err = run_cli(capsys, *args)
    assert rc == 0, err
    log = err + caplog.text
    assert "from step 2" in log and "resuming from ckpt-0000002.pt" in log
    assert not list(run.glob(".*.tmp-*")) and not (run / "FAILED").exists()
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # no step logged twice


# -- 7. kill -9 and bit-identical resume ------------------------------------------------------------------------
def _kill_when(cmd, cond, timeout=300):
    p = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while p.poll() is None and time.monotonic() - t0 < timeout:
        if cond():
            p.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    p.wait()
    return p.returncode


@pytest.mark.slow
def test_kill9_pretrain_and_extract_resume_bit_identical(tmp_path):
    data = make_npz(tmp_path / "toy.npz")
    base = [sys.executable, "-m", "medfx", *pretrain_args(data, "OUT", "r", "train.steps=12", "train.ckpt_every=2",
                                                              "train.log_every=1")]
    ref_cmd = [a.replace("OUT", str(tmp_path / "ref")) for a in base]
    cmd = [a.replace("OUT", str(tmp_path / "k")) for a in base]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    assert subprocess.run(ref_cmd, cwd=ROOT, env=env, capture_output=True).returncode == 0
    run = tmp_path / "k" / "r"
    rc = _kill_when(cmd, lambda: (run / "ckpt-0000006.pt").exists())
    assert rc == -signal.SIGKILL
    assert subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True).returncode == 0
    a = torch.load(tmp_path / "ref" / "r" / "last.pt", weights_only=True)
    b = torch.load(run / "last.pt", weights_only=True)
    for key in ("model", "ema"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 13))

    ref_bank, bank = tmp_path / "ref_bank", tmp_path / "bank"
    ex = [sys.executable, "-m", "medfx", "extract", "--ckpt", str(tmp_path / "ref" / "r" / "last.pt"),
          "features.timesteps=[0,5,10,20]", "features.batch_size=4", "--out"]
    assert subprocess.run(ex + [str(ref_bank)], cwd=ROOT, env=env, capture_output=True).returncode == 0
    rc = _kill_when(ex + [str(bank)], lambda: any(tmp_path.glob(".bank.partial-*/*.npy")))
    assert rc == -signal.SIGKILL and not bank.exists()
    assert subprocess.run(ex + [str(bank)], cwd=ROOT, env=env, capture_output=True).returncode == 0
    assert not list(tmp_path.glob(".bank.partial-*"))
    ma, mb = (json.loads((p / "meta.json").read_text()) for p in (ref_bank, bank))
    assert ma["files"] == mb["files"]  # every array bit-identical (same SHA-256)


def test_csv_paths_outside_the_csv_folder_are_refused_on_request(tmp_path):
    """Review case O2: a CSV may pull files from anywhere unless ``data.contain_paths=true``."""
    import nibabel as nib

    from medfx.data import DataConfig, load_dataset

    inside, outside = tmp_path / "data", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    vol = np.random.default_rng(0).random((8, 8, 8)).astype(np.float32)
    rows = ["path,label"]
    for i in range(4):
        nib.save(nib.Nifti1Image(vol + i, np.eye(4)), inside / f"v{i}.nii.gz")
        rows.append(f"v{i}.nii.gz,{i % 2}")
    nib.save(nib.Nifti1Image(vol, np.eye(4)), outside / "secret.nii.gz")
    csv = inside / "list.csv"
    csv.write_text("\n".join(rows + ["../outside/secret.nii.gz,0"]) + "\n")
    assert len(load_dataset(DataConfig(path=str(csv))).ids) == 5  # default: relative paths may leave the folder
    with pytest.raises(DataError, match=r"row 6 points to \.\./outside/secret\.nii\.gz, outside the CSV's folder"):
        load_dataset(DataConfig(path=str(csv), contain_paths=True))
    csv.write_text("\n".join(rows + [f"{outside / 'secret.nii.gz'},0"]) + "\n")  # absolute paths too
    with pytest.raises(DataError, match="outside the CSV's folder"):
        load_dataset(DataConfig(path=str(csv), contain_paths=True))
    csv.write_text("\n".join(rows) + "\n")
    assert len(load_dataset(DataConfig(path=str(csv), contain_paths=True)).ids) == 4
