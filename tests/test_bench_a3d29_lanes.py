"""bench/a3d29_{rn,dc,b50}.sh: each lane hands bench/label_efficiency.sh the runs it names (run names, budgets, head
seeds, checkpoints), checked with a stand-in python in a copy of bench/ so that no work starts and no real run
directory is touched. The first launch of a3d29_b50.sh ran `env ... run_left` (env cannot run a shell function) and
silently skipped every feature run; this test would have failed on it."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _lane(tmp_path, script, *args):
    bench = tmp_path / "bench"
    bench.mkdir()
    for f in (script, "lib.sh", "label_efficiency.sh"):
        shutil.copy(ROOT / "bench" / f, bench / f)
    rec = tmp_path / "calls"
    fake = tmp_path / "fakepy"
    fake.write_text(f'#!/bin/bash\necho "$@" >> {rec}\n')
    fake.chmod(0o755)
    env = {**os.environ, "PY": str(fake), "STOP": str(int(time.time()) + 600), "LOG": str(tmp_path / "logs"),
           "DDPM_RUNS": "/ddpm", "MEDFX_SRC": str(ROOT)}
    r = subprocess.run(["bash", str(bench / script), *args], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
    assert "No such file" not in r.stderr + logs
    return [line.split() for line in rec.read_text().splitlines()] if rec.exists() else []


def _get(call, key):
    return next(a.split("=", 1)[1] for a in call if a.startswith(key + "="))


@pytest.mark.parametrize("script,args,expect", [
    ("a3d29_b50.sh", ["laneA"], [("le-a3d-s0-d29b50", "[50]", "/ddpm/a3d27-s0/ckpt-0002000.pt"),
                                 ("le-a3d-s1-d29b50", "[50]", "/ddpm/a3d27-s1/ckpt-0002000.pt"),
                                 ("le-a3d-baselines-d29b50small2", "[50]", None)]),
    ("a3d29_b50.sh", ["feats", "2"], [("le-a3d-s2-d29b50", "[50]", "/ddpm/a3d27-s2/ckpt-0002000.pt")]),
    ("a3d29_rn.sh", ["laneB"], [("le-a3d-baselines-d29rn1", "[5,10,25]", None),
                                ("le-a3d-baselines-d29rn2b", "[25]", None)]),
    ("a3d29_dc.sh", ["0", "1"], [("le-a3d-s2-d27patdc0", "[all]", "/ddpm/a3d27-s2/ckpt-0002000.pt"),
                                 ("le-a3d-s2-d27patdc1", "[all]", "/ddpm/a3d27-s2/ckpt-0002000.pt")]),
])
def test_lane_hands_on_every_run(tmp_path, script, args, expect):
    calls = _lane(tmp_path, script, *args)
    got = [(_get(c, "run.name"), _get(c, "heads.label_budgets"),
            _get(c, "pipeline.checkpoint") if any(a.startswith("pipeline.checkpoint=") for a in c) else None)
           for c in calls]
    assert got == expect
    assert all("heads.precision=fp32" in c for c in calls)


def test_head_seed_of_single_seed_runs(tmp_path):
    calls = _lane(tmp_path, "a3d29_b50.sh", "laneB")
    assert [_get(c, "run.name") for c in calls] == ["le-a3d-s2-d29b50", "le-a3d-baselines-d29b50small0",
                                                    "le-a3d-baselines-d29b50small1"]
    assert [c for c in calls[1] if c.startswith("heads.seeds=")][-1] == "heads.seeds=[0]"
    assert [c for c in calls[2] if c.startswith("heads.seeds=")][-1] == "heads.seeds=[1]"
