"""bench/label_efficiency.sh transfer: a contradictory setting stops it before any work; what it passes to medfx."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _transfer(extra, tmp_path):
    # PY is a stand-in that records its arguments instead of running medfx, so no work can start either way
    rec = tmp_path / "called"
    fake = tmp_path / "fakepy"
    fake.write_text(f'#!/bin/bash\necho "$@" > {rec}\n')
    fake.chmod(0o755)
    env = {**os.environ, "DATASET": "yesno64", "ARM": "pool", "EXTRA": extra, "PY": str(fake)}
    r = subprocess.run(["bash", str(ROOT / "bench" / "label_efficiency.sh"), "transfer"], env=env,
                       capture_output=True, text=True)
    return r, (rec.read_text() if rec.exists() else None)


def test_transfer_refuses_ckpt_every_in_extra(tmp_path):
    r, called = _transfer("heads.precision=fp32 train.ckpt_every=400", tmp_path)
    assert r.returncode == 2 and called is None
    assert "train.ckpt_every in EXTRA contradicts CKPT_EVERY (100)" in r.stderr


def test_transfer_passes_ckpt_every_and_extra(tmp_path):
    r, called = _transfer("heads.precision=fp32 train.keep_ckpts=10", tmp_path)
    assert r.returncode == 0, r.stderr
    args = called.split()
    assert "train.ckpt_every=100" in args and "heads.precision=fp32" in args and "train.keep_ckpts=10" in args
    assert "run.name=le-yn-pool" in args and "pipeline.finetune_steps=100" in args
