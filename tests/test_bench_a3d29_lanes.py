"""bench/a3d27_all.sh, bench/a3d29_{rn,dc,b50}.sh, bench/a3d30.sh, bench/a3d31.sh bench/a3d32.sh, bench/a3d33.sh, bench/a3d34.sh, bench/a3d35.sh, bench/pn33_demo.sh, bench/pn36.sh, bench/pn36b.sh, bench/pn36d.sh, bench/a3d36.sh, bench/pn37.sh, bench/pn37b.sh, bench/pn38.sh, bench/b64_39.sh, bench/a3d40.sh, bench/fuse41.sh, bench/fuse41b.sh, bench/pn42.sh, bench/b64_42.sh, bench/a3d43.sh, bench/a3d43b.sh, bench/a3d44.sh, bench/pn44.sh, bench/b64_44.sh, bench/b64_45.sh, bench/pn46.sh, bench/b64_47.sh and bench/ens48.sh (all through lib.sh's le_step): each lane hands
bench/label_efficiency.sh the runs it names (run names, budgets, head seeds, checkpoints), checked with a stand-in
python in a copy of bench/ so that no work starts and no real run directory is touched. The first launch of
a3d29_b50.sh ran `env ... run_left` (env cannot run a shell function) and silently skipped every feature run; this
test would have failed on it."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from medfx.config import load_config

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


# the two random-initialised U-Nets of the thirty-first and thirty-second sessions (2-step throwaway DDPMs)
RN0 = "bench/runs/le-a3d-baselines-d31rn0/ddpm/ckpt-0000002.pt"
INIT1 = "bench/runs/le-a3d-baselines-d32init1/ddpm/ckpt-0000002.pt"


def _lane(tmp_path, script, *args, touch=(), rc=0, files=(), **extra_env):
    bench = tmp_path / "bench"
    bench.mkdir()
    for f in touch:  # files a lane waits for (e.g. a checkpoint another lane writes)
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).touch()
    for seed in (0, 1, 2, 3, 4):  # the DDPMs' last checkpoints, so that a3d27_all.sh does not wait for them
        (tmp_path / "ddpm" / f"a3d27-s{seed}").mkdir(parents=True)
        (tmp_path / "ddpm" / f"a3d27-s{seed}" / "ckpt-0002000.pt").touch()
    # a3d35.sh, pn36c.sh and pn37b.sh continue DDPMs through a3d27_ddpm.sh, pn36_ddpm.sh and pn37.sh
    # files: further bench/ files the lane calls (e.g. the summary and fuse_lib.sh of pn46.sh's `all`)
    for f in {script, "lib.sh", "label_efficiency.sh", "a3d27_ddpm.sh", "pn36_ddpm.sh", "pn36.sh", "pn37.sh", *files}:
        shutil.copy(ROOT / "bench" / f, bench / f)
    rec = tmp_path / "calls"
    fake = tmp_path / "fakepy"
    fake.write_text(f'#!/bin/bash\necho "$@" >> {rec}\n')
    fake.chmod(0o755)
    env = {**os.environ, "PY": str(fake), "STOP": str(int(time.time()) + 600), "LOG": str(tmp_path / "logs"),
           "DDPM_RUNS": str(tmp_path / "ddpm"), "MEDFX_SRC": str(ROOT), **extra_env}
    r = subprocess.run(["bash", str(bench / script), *args], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == rc, r.stderr
    logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
    assert "No such file" not in r.stderr + logs
    assert "command not found" not in r.stderr + logs  # e.g. a lib.sh helper renamed or missing
    calls = rec.read_text().replace(str(tmp_path), "") if rec.exists() else ""
    return [line.split() for line in calls.splitlines()]


def _lanes(tmp_path, script, *arg_lists, **kw):
    """The calls of several launches of one lane script, each in its own copy of bench/ (tmp_path/0, /1, ...)."""
    calls = []
    for i, args in enumerate(arg_lists):
        (tmp_path / str(i)).mkdir()
        calls += _lane(tmp_path / str(i), script, *args, **kw)
    return calls


def _refused(tmp_path, script, *args):
    """A launch without a lane name it knows: exit 2 (usage) and no run handed to the harness."""
    (tmp_path / "bad").mkdir()
    return _lane(tmp_path / "bad", script, *args, rc=2) == []


def _get(call, key):
    return next(a.split("=", 1)[1] for a in call if a.startswith(key + "="))


def _seeds(call):
    """The run's head seeds argument: the last ``heads.seeds=`` wins (a lane's EXTRA comes after the harness's default)."""
    return [a for a in call if a.startswith("heads.seeds=")][-1]


def _ckpt(call):
    return _get(call, "pipeline.checkpoint") if any(a.startswith("pipeline.checkpoint=") for a in call) else None


def _row(call):
    """What a lane's run is: (run name, checkpoint, methods, budgets, head seeds)."""
    return (_get(call, "run.name"), _ckpt(call), _get(call, "heads.methods"), _get(call, "heads.label_budgets"),
            _seeds(call))


def _load_heads(call):
    """medfx's config of the lane's heads.* settings (raises on a setting medfx refuses)."""
    return load_config(None, [a for a in call if a.startswith("heads.")])


@pytest.mark.parametrize("script,args,expect", [
    ("a3d29_b50.sh", ["laneA"], [("le-a3d-s0-d29b50", "[50]", "/ddpm/a3d27-s0/ckpt-0002000.pt"),
                                 ("le-a3d-s1-d29b50", "[50]", "/ddpm/a3d27-s1/ckpt-0002000.pt"),
                                 ("le-a3d-baselines-d29b50small2", "[50]", None)]),
    ("a3d29_b50.sh", ["feats", "2"], [("le-a3d-s2-d29b50", "[50]", "/ddpm/a3d27-s2/ckpt-0002000.pt")]),
    ("a3d29_rn.sh", ["laneA"], [("le-a3d-baselines-d29rn0", "[5,10,25]", None),
                                ("le-a3d-baselines-d29rn2a", "[5,10]", None),
                                ("le-a3d-s2-d27pat", "[all]", "/ddpm/a3d27-s2/ckpt-0002000.pt")]),
    ("a3d29_rn.sh", ["laneB"], [("le-a3d-baselines-d29rn1", "[5,10,25]", None),
                                ("le-a3d-baselines-d29rn2b", "[25]", None)]),
    ("a3d29_dc.sh", ["0", "1"], [("le-a3d-s2-d27patdc0", "[all]", "/ddpm/a3d27-s2/ckpt-0002000.pt"),
                                 ("le-a3d-s2-d27patdc1", "[all]", "/ddpm/a3d27-s2/ckpt-0002000.pt")]),
    ("a3d30.sh", ["laneA"], [("le-a3d-s0-d30few", "[5,10]", "/ddpm/a3d27-s0/ckpt-0002000.pt"),
                             ("le-a3d-baselines-d30rn0", "[5,10]", None),
                             ("le-a3d-baselines-d30cnn0", "[5,10]", None),
                             ("le-a3d-baselines-d30rn2", "[5,10]", None)]),
    ("a3d30.sh", ["laneB"], [("le-a3d-s1-d30few", "[5,10]", "/ddpm/a3d27-s1/ckpt-0002000.pt"),
                             ("le-a3d-baselines-d30rn1", "[5,10]", None),
                             ("le-a3d-baselines-d30cnn1", "[5,10]", None),
                             ("le-a3d-baselines-d30cnn2", "[5,10]", None)]),
    ("a3d30.sh", ["b25A"], [("le-a3d-s0-d30b25", "[25]", "/ddpm/a3d27-s0/ckpt-0002000.pt"),
                            ("le-a3d-baselines-d30b25cnn0", "[25]", None),
                            ("le-a3d-baselines-d30b25cnn2", "[25]", None)]),
    ("a3d30.sh", ["b25B"], [("le-a3d-s1-d30b25", "[25]", "/ddpm/a3d27-s1/ckpt-0002000.pt"),
                            ("le-a3d-baselines-d30b25cnn1", "[25]", None)]),
    ("a3d31.sh", ["laneA"], [("le-a3d-baselines-d31rn0", "[25]", None),
                             ("le-a3d-baselines-d31rn2", "[25]", None),
                             ("le-a3d-s0-d31b50", "[50]", "/ddpm/a3d27-s0/ckpt-0002000.pt"),
                             ("le-a3d-baselines-d31b50cnn0", "[50]", None)]),
    ("a3d31.sh", ["laneB"], [("le-a3d-baselines-d31rn1", "[25]", None)]
                            + [(f"le-a3d-baselines-d31small{s}", "[25]", None) for s in (0, 1, 2)]
                            + [("le-a3d-s1-d31b50", "[50]", "/ddpm/a3d27-s1/ckpt-0002000.pt"),
                               ("le-a3d-baselines-d31b50cnn1", "[50]", None),
                               ("le-a3d-baselines-d31b50cnn2", "[50]", None)]),
])
def test_lane_hands_on_every_run(tmp_path, script, args, expect):
    calls = _lane(tmp_path, script, *args)
    got = [(_get(c, "run.name"), _get(c, "heads.label_budgets"), _ckpt(c)) for c in calls]
    assert got == expect
    assert all("heads.precision=fp32" in c for c in calls)


def test_head_seed_of_single_seed_runs(tmp_path):
    calls = _lane(tmp_path, "a3d29_b50.sh", "laneB")
    assert [_get(c, "run.name") for c in calls] == ["le-a3d-s2-d29b50", "le-a3d-baselines-d29b50small0",
                                                    "le-a3d-baselines-d29b50small1"]
    assert _seeds(calls[1]) == "heads.seeds=[0]"
    assert _seeds(calls[2]) == "heads.seeds=[1]"


@pytest.mark.parametrize("harness,budgets,feat,small", [("all", "[all]", "d27pat", "cpu27small"),
                                                        ("few", "[5,10,25]", "d27few", "d27fewsmall")])
def test_a3d27_all_lanes(tmp_path, harness, budgets, feat, small):
    calls = _lane(tmp_path, "a3d27_all.sh", "lane0", HARNESS=harness)
    assert [(_get(c, "run.name"), _get(c, "heads.label_budgets")) for c in calls] == [
        (f"le-a3d-s0-{feat}", budgets), (f"le-a3d-baselines-{small}0", budgets), (f"le-a3d-baselines-{small}1", budgets)]
    assert _get(calls[0], "pipeline.checkpoint") == "/ddpm/a3d27-s0/ckpt-0002000.pt"
    assert ("heads.patience=30" in calls[1]) == (harness == "all")
    log = (tmp_path / "logs" / ("a3d27_lane0.log" if harness == "all" else "a3d28_lane0.log")).read_text()
    assert [line.split(":")[0] for line in log.splitlines()] == [
        "start DDPM seed 0", "end DDPM seed 0", "start small CNN seed 0", "end small CNN seed 0",
        "start small CNN seed 1", "end small CNN seed 1"]


def test_a3d30_methods_and_seeds(tmp_path):
    """The full D-Cube head runs with the four feature methods on fresh features; each CNN run has its one head seed."""
    calls = _lane(tmp_path, "a3d30.sh", "laneB")
    assert _get(calls[0], "heads.methods") == "['linear_best','linear_ks','cats','dcube_feats','dcube']"
    assert not (tmp_path / "bench" / "runs" / "le-a3d-s1-d30few").exists()  # NOLINK: nothing linked in
    assert [_get(c, "heads.methods") for c in calls[1:]] == ["['resnet18']", "['dcube_cnn','small_cnn']",
                                                             "['dcube_cnn','small_cnn']"]
    assert [_seeds(c) for c in calls[1:]] == [
        "heads.seeds=[1]", "heads.seeds=[1]", "heads.seeds=[2]"]


def test_a3d31_methods_and_seeds(tmp_path):
    """Each CNN run has its one head seed and its methods; the 50-label head runs only the full D-Cube head."""
    calls = _lane(tmp_path, "a3d31.sh", "laneB")
    assert [_get(c, "heads.methods") for c in calls] == ["['resnet18']"] + ["['small_cnn']"] * 3 + [
        "['dcube']", "['dcube_cnn','small_cnn']", "['dcube_cnn','small_cnn']"]
    seeds = [_seeds(c) for c in calls]
    assert seeds[:4] == ["heads.seeds=[1]", "heads.seeds=[0]", "heads.seeds=[1]", "heads.seeds=[2]"]
    assert seeds[4] == "heads.seeds=[0,1,2]" and seeds[5:] == ["heads.seeds=[1]", "heads.seeds=[2]"]


def test_a3d31_random_init_control(tmp_path):
    """The control runs the full D-Cube head at 10 and 50 labels on the baselines run's 2-step U-Net, its head seeds."""
    (tmp_path / "b").mkdir()
    calls = _lane(tmp_path, "a3d31.sh", "ctlA") + _lane(tmp_path / "b", "a3d31.sh", "ctlB")
    assert [(_get(c, "run.name"), _get(c, "heads.label_budgets"), _get(c, "heads.methods")) for c in calls] == [
        ("le-a3d-random-d31ctl01", "[10,50]", "['dcube']"), ("le-a3d-random-d31ctl2", "[10,50]", "['dcube']")]
    assert [_get(c, "pipeline.checkpoint") for c in calls] == [
        RN0] * 2
    assert [_seeds(c) for c in calls] == ["heads.seeds=[0,1]",
                                                                                  "heads.seeds=[2]"]
    assert all("heads.precision=fp32" in c for c in calls)


def test_a3d31_random_init_control_5_25(tmp_path):
    calls = _lane(tmp_path, "a3d31.sh", "ctl5A")
    assert [(_get(c, "run.name"), _get(c, "heads.label_budgets")) for c in calls] == [
        ("le-a3d-random-d31ctl5_01", "[5,25]")]


def test_a3d32_lanes(tmp_path):
    """Thirty-second session: the second random U-Net (run.seed=1 in the baselines run that writes it, nothing else
    changed), every head on it, the cheap heads on the first random U-Net and at 25/50 on the two trained DDPMs."""
    cheap, every = "['linear_best','linear_ks','cats','dcube_feats']", "['linear_best','linear_ks','cats','dcube_feats','dcube']"
    (tmp_path / "b").mkdir()
    calls = _lane(tmp_path, "a3d32.sh", "laneA") + _lane(tmp_path / "b", "a3d32.sh", "laneB", touch=[INIT1])
    got = [(_get(c, "run.name"), _get(c, "heads.label_budgets"), _get(c, "heads.methods"), _seeds(c), _ckpt(c))
           for c in calls]
    assert got == [
        ("le-a3d-baselines-d32init1", "[5]", "['small_cnn']", "heads.seeds=[0]", None),
        ("le-a3d-random-d32r1a", "[5,10,25,50]", every, "heads.seeds=[0,1]", INIT1),
        ("le-a3d-random-d32r0cheap", "[5,10,25,50]", cheap, "heads.seeds=[0,1,2]", RN0),
        ("le-a3d-s0-d32cheap", "[25,50]", cheap, "heads.seeds=[0,1,2]", "/ddpm/a3d27-s0/ckpt-0002000.pt"),
        ("le-a3d-s1-d32cheap", "[25,50]", cheap, "heads.seeds=[0,1,2]", "/ddpm/a3d27-s1/ckpt-0002000.pt"),
        ("le-a3d-random-d32r1b", "[5,10,25,50]", every, "heads.seeds=[2]", INIT1)]
    assert [("run.seed=1" in c) for c in calls] == [True] + [False] * 5
    assert all("heads.precision=fp32" in c for c in calls)


@pytest.mark.parametrize("lanes,budgets,x", [(("laneC", "laneD"), "[5,10]", "s345"),  # declared addition
                                             (("laneE", "laneF"), "[25]", "s345b25")])  # second declared addition
def test_a3d32_head_seeds_3_5(tmp_path, lanes, budgets, x):
    """The declared additions: every head with head seeds 3-5 at 5 and 10 labels (C, D) or at 25 (E, F), in runs of
    their own, on each trained DDPM and random U-Net."""
    (tmp_path / "b").mkdir()
    calls = _lane(tmp_path, "a3d32.sh", lanes[0]) + _lane(tmp_path / "b", "a3d32.sh", lanes[1])
    assert [(_get(c, "run.name"), _get(c, "heads.label_budgets"), _ckpt(c)) for c in calls] == [
        (f"le-a3d-s0-d32{x}", budgets, "/ddpm/a3d27-s0/ckpt-0002000.pt"),
        (f"le-a3d-random-d32r0{x}", budgets, RN0),
        (f"le-a3d-s1-d32{x}", budgets, "/ddpm/a3d27-s1/ckpt-0002000.pt"),
        (f"le-a3d-random-d32r1{x}", budgets, INIT1)]
    assert all(_seeds(c) == "heads.seeds=[3,4,5]" for c in calls)
    assert all(_get(c, "heads.methods") == "['linear_best','linear_ks','cats','dcube_feats','dcube']" for c in calls)
    assert all("heads.precision=fp32" in c for c in calls)


def test_a3d33_lanes(tmp_path):
    """Thirty-third session: D-Cube without its image CNN on each trained DDPM and random U-Net, standardised and
    unmirrored (std) and with D-Cube's LayerNorm unmirrored (nf), head seeds 0-5 at 5-50 labels; each run's
    settings must pass medfx's own config check (standard needs flip weight 0)."""
    (tmp_path / "b").mkdir()
    calls = _lane(tmp_path, "a3d33.sh", "laneA") + _lane(tmp_path / "b", "a3d33.sh", "laneB")
    assert [(_get(c, "run.name"), _ckpt(c)) for c in calls] == [
        ("le-a3d-s0-d33std", "/ddpm/a3d27-s0/ckpt-0002000.pt"), ("le-a3d-random-d33r0std", RN0),
        ("le-a3d-s0-d33nf", "/ddpm/a3d27-s0/ckpt-0002000.pt"), ("le-a3d-random-d33r0nf", RN0),
        ("le-a3d-s1-d33std", "/ddpm/a3d27-s1/ckpt-0002000.pt"), ("le-a3d-random-d33r1std", INIT1),
        ("le-a3d-s1-d33nf", "/ddpm/a3d27-s1/ckpt-0002000.pt"), ("le-a3d-random-d33r1nf", INIT1)]
    for c in calls:
        assert (_get(c, "heads.methods"), _get(c, "heads.label_budgets"), _seeds(c)) == (
            "['dcube_feats']", "[5,10,25,50]", "heads.seeds=[0,1,2,3,4,5]")
        assert "heads.precision=fp32" in c and _get(c, "heads.dcube_weights") == "[1,10,0]"
        std = "std" in _get(c, "run.name")
        assert ("heads.dcube_feature_norm=standard" in c) == std and ("heads.budget_augment=false" in c) != std
        _load_heads(c)  # medfx accepts the lane's heads settings


def test_a3d33_full_head_addition(tmp_path):
    """The declared addition: the full D-Cube head, std, head seeds 0-2, at 5-25 then 50 labels, same feature sources."""
    (tmp_path / "b").mkdir()
    calls = _lane(tmp_path, "a3d33.sh", "laneC") + _lane(tmp_path / "b", "a3d33.sh", "laneD")
    s0, s1 = "/ddpm/a3d27-s0/ckpt-0002000.pt", "/ddpm/a3d27-s1/ckpt-0002000.pt"
    assert [(_get(c, "run.name"), _get(c, "heads.label_budgets"), _ckpt(c)) for c in calls] == [
        ("le-a3d-s0-d33fullstd", "[5,10,25]", s0), ("le-a3d-random-d33r0fullstd", "[5,10,25]", RN0),
        ("le-a3d-s0-d33fullstd50", "[50]", s0), ("le-a3d-random-d33r0fullstd50", "[50]", RN0),
        ("le-a3d-s1-d33fullstd", "[5,10,25]", s1), ("le-a3d-random-d33r1fullstd", "[5,10,25]", INIT1),
        ("le-a3d-s1-d33fullstd50", "[50]", s1), ("le-a3d-random-d33r1fullstd50", "[50]", INIT1)]
    for c in calls:
        assert (_get(c, "heads.methods"), _seeds(c)) == ("['dcube']", "heads.seeds=[0,1,2]")
        assert "heads.dcube_feature_norm=standard" in c and _get(c, "heads.dcube_weights") == "[1,10,0]"
        _load_heads(c)


def test_pn33_demo(tmp_path):
    """The second declared addition: dcube_feats on README (a)'s DDPM in 2D, D-Cube's defaults then z-scored."""
    (tmp_path / "ddpm" / "demo33").mkdir(parents=True)
    calls = _lane(tmp_path, "pn33_demo.sh", "run")
    assert [(_get(c, "run.name"), _get(c, "heads.methods"), _ckpt(c)) for c in calls] == [
        ("le-pn-s0-d33demo", "['linear_best','dcube_feats']", "/ddpm/demo33/ckpt-0000300.pt"),
        ("le-pn-s0-d33demostd", "['dcube_feats']", "/ddpm/demo33/ckpt-0000300.pt")]
    assert [("heads.dcube_feature_norm=standard" in c) for c in calls] == [False, True]
    for c in calls:
        assert _get(c, "heads.label_budgets") == "[5,10,25,50]" and _seeds(c) == "heads.seeds=[0,1,2]"
        _load_heads(c)


def test_a3d33_cats_addition(tmp_path):
    """The third declared addition: the CATS-like head z-scored, head seeds 0-2, 5-50 labels, same feature sources."""
    (tmp_path / "b").mkdir()
    calls = _lane(tmp_path, "a3d33.sh", "laneE") + _lane(tmp_path / "b", "a3d33.sh", "laneF")
    assert [_get(c, "run.name") for c in calls] == ["le-a3d-s0-d33catsstd", "le-a3d-random-d33r0catsstd",
                                                    "le-a3d-s1-d33catsstd", "le-a3d-random-d33r1catsstd"]
    for c in calls:
        assert (_get(c, "heads.methods"), _get(c, "heads.label_budgets"), _seeds(c)) == (
            "['cats']", "[5,10,25,50]", "heads.seeds=[0,1,2]")
        assert "heads.cats_norm=standard" in c and "heads.dcube_feature_norm=standard" not in c
        _load_heads(c)


def test_a3d34_lanes(tmp_path):
    """Thirty-fourth session: the CNN baselines for head seeds 3-5 at 5 and 10 labels (one ResNet-18 run per seed,
    then the small CNN), and plan 2's linear_best + linear_topk on both trained DDPMs and both random U-Nets."""
    (tmp_path / "b").mkdir()
    cnn = _lane(tmp_path, "a3d34.sh", "laneCNN")
    assert [(_get(c, "run.name"), _get(c, "heads.methods"), _seeds(c)) for c in cnn] == [
        ("le-a3d-baselines-d34rn3", "['resnet18']", "heads.seeds=[3]"),
        ("le-a3d-baselines-d34rn4", "['resnet18']", "heads.seeds=[4]"),
        ("le-a3d-baselines-d34rn5", "['resnet18']", "heads.seeds=[5]"),
        ("le-a3d-baselines-d34small345", "['small_cnn']", "heads.seeds=[3,4,5]")]
    topk = _lane(tmp_path / "b", "a3d34.sh", "laneTOPK")
    assert [(_get(c, "run.name"), _ckpt(c)) for c in topk] == [
        ("le-a3d-s0-d34topk", "/ddpm/a3d27-s0/ckpt-0002000.pt"), ("le-a3d-s1-d34topk", "/ddpm/a3d27-s1/ckpt-0002000.pt"),
        ("le-a3d-random-d34r0topk", RN0), ("le-a3d-random-d34r1topk", INIT1)]
    for c in cnn:
        assert _get(c, "heads.label_budgets") == "[5,10]" and "heads.precision=fp32" in c
    for c in topk:
        assert (_get(c, "heads.methods"), _get(c, "heads.label_budgets"), _seeds(c)) == (
            "['linear_best','linear_topk']", "[5,10,25,50]", "heads.seeds=[0,1,2,3,4,5]")
        assert not any(a.startswith("heads.probe_topk=") for a in c)  # the default, 5
    for c in cnn + topk:
        _load_heads(c)


def test_a3d34_pn_addition(tmp_path):
    """Declared addition 1 (2D): linear_best + linear_topk on README (a)'s DDPM, then on the random U-Net of the
    CNN baselines run (waited for), and the ResNet-18 + small CNN, head seeds 0-5 at 5-50 labels, DATASET=pn."""
    (tmp_path / "b").mkdir()
    ck = "bench/runs/le-pn-baselines-d34/ddpm/ckpt-0000002.pt"
    topk = _lane(tmp_path, "a3d34.sh", "pnTOPK", touch=[ck, "ddpm/demo33/ckpt-0000300.pt"])
    assert [(_get(c, "run.name"), _ckpt(c)) for c in topk] == [
        ("le-pn-s0-d34topk", "/ddpm/demo33/ckpt-0000300.pt"), ("le-pn-random-d34topk", ck)]
    cnn = _lane(tmp_path / "b", "a3d34.sh", "pnCNN")
    assert [(_get(c, "run.name"), _get(c, "heads.methods")) for c in cnn] == [
        ("le-pn-baselines-d34", "['resnet18','small_cnn']")]
    for c in topk + cnn:
        assert (_get(c, "preset"), _get(c, "heads.label_budgets"), _seeds(c)) == (
            "cpu-28", "[5,10,25,50]", "heads.seeds=[0,1,2,3,4,5]")
        _load_heads(c)
    assert all(_get(c, "heads.methods") == "['linear_best','linear_topk']" for c in topk)


def test_a3d34_third_random_unet(tmp_path):
    """Declared addition 2: a third random U-Net (run.seed=2; the small CNN of head seed 0 at 5 labels re-trained as
    a check), then the three linear probes on it, extracted afresh."""
    calls = _lane(tmp_path, "a3d34.sh", "laneINIT2")
    assert [(_get(c, "run.name"), _ckpt(c)) for c in calls] == [
        ("le-a3d-baselines-d34init2", None),
        ("le-a3d-random-d34r2topk", "bench/runs/le-a3d-baselines-d34init2/ddpm/ckpt-0000002.pt")]
    assert "run.seed=2" in calls[0] and (_get(calls[0], "heads.methods"), _seeds(calls[0])) == ("['small_cnn']", "heads.seeds=[0]")
    assert (_get(calls[1], "heads.methods"), _get(calls[1], "heads.label_budgets"), _seeds(calls[1])) == (
        "['linear_best','linear_ks','linear_topk']", "[5,10,25,50]", "heads.seeds=[0,1,2,3,4,5]")
    assert not any(a.startswith("run.seed=") for a in calls[1])
    for c in calls:
        _load_heads(c)


def test_a3d34_seeds_3_5_at_50(tmp_path):
    """Declared addition 3: the KS-keys probe and the CATS-like head, head seeds 3-5 at 50 labels, on each DDPM and
    the random U-Net of its lane."""
    (tmp_path / "b").mkdir()
    calls = _lane(tmp_path, "a3d34.sh", "laneS50A") + _lane(tmp_path / "b", "a3d34.sh", "laneS50B")
    assert [(_get(c, "run.name"), _ckpt(c)) for c in calls] == [
        ("le-a3d-s0-d34s345b50", "/ddpm/a3d27-s0/ckpt-0002000.pt"), ("le-a3d-random-d34r0s345b50", RN0),
        ("le-a3d-s1-d34s345b50", "/ddpm/a3d27-s1/ckpt-0002000.pt"), ("le-a3d-random-d34r1s345b50", INIT1)]
    for c in calls:
        assert (_get(c, "heads.methods"), _get(c, "heads.label_budgets"), _seeds(c)) == (
            "['linear_ks','cats']", "[50]", "heads.seeds=[3,4,5]")
        _load_heads(c)


def test_a3d35_continued_ddpms(tmp_path):
    """Thirty-fifth session: each lane resumes a copy of its 2000-step DDPM to 4000 steps through bench/a3d27_ddpm.sh
    itself; its call differs from that script's default call (run through the same stand-in) only in the copy's
    folder, the step count and the kept checkpoints. The original stays untouched; then the linear probes run at
    steps 4000 and 3000 and the CATS-like head at 4000."""
    (tmp_path / "ref").mkdir()
    ref = _lane(tmp_path / "ref", "a3d27_ddpm.sh", "0")
    assert len(ref) == 1 and "pretrain" in ref[0]
    for s in (0, 1):
        (tmp_path / f"l{s}").mkdir()
        calls = _lane(tmp_path / f"l{s}", "a3d35.sh", f"lane{s}", DDPM_RUNS35=str(tmp_path / f"l{s}" / "ddpm35"))
        pre, *feats = calls
        # the same training command but for where the copy lives, the step count and the kept checkpoints
        changed = {"run.out_dir": "/ddpm35", "train.steps": "4000", "train.keep_ckpts": "8"}
        want = [a for a in ref[0] if a.split("=")[0] not in changed and not a.startswith("run.seed=")] + [
            f"run.seed={s}"]
        assert sorted(a.replace("a3d27-s0", f"a3d27-s{s}") for a in want) == sorted(
            a for a in pre if a.split("=")[0] not in changed)
        assert {k: _get(pre, k) for k in changed} == changed and _get(pre, "run.name") == f"a3d27-s{s}"
        copy = tmp_path / f"l{s}" / "ddpm35" / f"a3d27-s{s}" / "ckpt-0002000.pt"
        assert copy.is_file() and (tmp_path / f"l{s}" / "ddpm" / f"a3d27-s{s}" / "ckpt-0002000.pt").is_file()
        assert [(_get(c, "run.name"), _ckpt(c), _get(c, "heads.methods")) for c in feats] == [
            (f"le-a3d-s{s}-d35k4", f"/ddpm35/a3d27-s{s}/ckpt-0004000.pt", "['linear_best','linear_topk','linear_ks']"),
            (f"le-a3d-s{s}-d35k3", f"/ddpm35/a3d27-s{s}/ckpt-0003000.pt", "['linear_best','linear_topk','linear_ks']"),
            (f"le-a3d-s{s}-d35k4cats", f"/ddpm35/a3d27-s{s}/ckpt-0004000.pt", "['cats']")]
        for c in feats:
            assert (_get(c, "heads.label_budgets"), _seeds(c), _get(c, "heads.precision")) == (
                "[5,10,25,50]", "heads.seeds=[0,1,2,3,4,5]", "fp32")
            _load_heads(c)
    (tmp_path / "l0" / "c").mkdir()  # step 4 alone, as re-launched
    cats = _lane(tmp_path / "l0" / "c", "a3d35.sh", "cats0", DDPM_RUNS35=str(tmp_path / "l0" / "c" / "ddpm35"))
    assert [(_get(c, "run.name"), _ckpt(c), _get(c, "heads.methods")) for c in cats] == [
        ("le-a3d-s0-d35k4cats", "/ddpm35/a3d27-s0/ckpt-0004000.pt", "['cats']")]
    (tmp_path / "l1" / "m").mkdir()  # the declared addition: steps 2500 and 3500
    mid = _lane(tmp_path / "l1" / "m", "a3d35.sh", "mid1", DDPM_RUNS35=str(tmp_path / "l1" / "m" / "ddpm35"))
    assert [(_get(c, "run.name"), _ckpt(c), _get(c, "heads.methods"), _seeds(c)) for c in mid] == [
        (f"le-a3d-s1-d35k{k}", f"/ddpm35/a3d27-s1/ckpt-000{k}00.pt", "['linear_best','linear_topk','linear_ks']",
         "heads.seeds=[0,1,2,3,4,5]") for k in (25, 35)]


@pytest.mark.parametrize("with_grid", [False, True])
def test_link_cached_run_links_what_the_source_has(tmp_path, with_grid):
    """lib.sh's link_cached_run hard-links the source run's feature banks, probe grid, Gaussianity map and stage
    markers, and leaves out a folder the source lacks (a probe-only run has no features_grid; the thirty-fifth
    session's first CATS launch stopped there)."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    dirs = ["features", "probe", "gaussianity"] + (["features_grid"] if with_grid else [])
    for d in dirs:
        (src / d).mkdir(parents=True)
        (src / d / "x.npy").write_bytes(d.encode())
    (src / "stages").mkdir()
    for s in ("extract", "probe", "gaussianity"):
        (src / "stages" / f"{s}.json").write_text(s)
    (src / ".medfx-owned").write_text("owner")
    # under set -e, as bench/label_efficiency.sh calls it
    r = subprocess.run(["bash", "-c", f'set -euo pipefail; source "{ROOT}/bench/lib.sh"; link_cached_run "{src}" "{dst}"'],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for d in dirs:
        assert os.path.samefile(src / d / "x.npy", dst / d / "x.npy")
    assert (dst / "features_grid").exists() == with_grid
    assert sorted(p.name for p in (dst / "stages").iterdir()) == ["extract.json", "gaussianity.json", "probe.json"]
    assert (dst / ".medfx-owned").read_text() == "owner"


def test_pn36_lanes_pair_with_the_d34_cnns(tmp_path):
    """bench/pn36.sh and bench/pn36b.sh (thirty-sixth session): the probes on the two new 3000-step DDPMs, the KS-keys
    probe on the random U-Net, the CATS-like head and D-Cube without its image CNN, with exactly the data and head
    harness of the thirty-fourth session's CNN run le-pn-baselines-d34 (a3d34.sh pnCNN) that they are paired with."""
    for d in ("b", "c", "d"):
        (tmp_path / d).mkdir()
    cks = [f"ddpm/pn36-s{s}/ckpt-0003000.pt" for s in (5, 6)]
    probes = (_lane(tmp_path, "pn36.sh", "ddpm5", touch=cks) + _lane(tmp_path / "b", "pn36.sh", "ddpm6", touch=cks)
              + _lane(tmp_path / "c", "pn36.sh", "ctl"))
    done = [f"bench/runs/le-pn-s{s}-d36/{f}" for s in (5, 6) for f in ("done.json", ".medfx-owned")]
    (tmp_path / "e").mkdir()
    (tmp_path / "g").mkdir()
    heads = (_lane(tmp_path / "d", "pn36b.sh", "cats5", touch=done) + _lane(tmp_path / "e", "pn36b.sh", "cats6", touch=done)
             + _lane(tmp_path / "g", "pn36b.sh", "ctl"))
    assert [(_get(c, "run.name"), _ckpt(c), _get(c, "heads.methods")) for c in probes + heads] == [
        ("le-pn-s5-d36", "/ddpm/pn36-s5/ckpt-0003000.pt", "['linear_best','linear_ks','linear_topk']"),
        ("le-pn-s6-d36", "/ddpm/pn36-s6/ckpt-0003000.pt", "['linear_best','linear_ks','linear_topk']"),
        ("le-pn-random-d36ks", "bench/runs/le-pn-baselines-d34/ddpm/ckpt-0000002.pt", "['linear_ks']"),
        ("le-pn-s5-d36cats", "/ddpm/pn36-s5/ckpt-0003000.pt", "['cats','dcube_feats']"),
        ("le-pn-s6-d36cats", "/ddpm/pn36-s6/ckpt-0003000.pt", "['cats','dcube_feats']"),
        ("le-pn-random-d36cats", "bench/runs/le-pn-baselines-d34/ddpm/ckpt-0000002.pt", "['cats','dcube_feats']")]
    (tmp_path / "f").mkdir()
    cnn = _lane(tmp_path / "f", "a3d34.sh", "pnCNN")[0]
    # everything that decides the subsets, the validation rule and the heads' training, as in the CNN run
    own = ("run.name", "heads.methods", "pipeline.checkpoint", "pipeline.stages", "train.", "features.blocks",
           "features.timesteps", "gaussianity.top_k")
    harness = lambda c: sorted(a for a in c if "=" in a and not a.startswith(own))  # noqa: E731
    for c in probes + heads:
        assert harness(c) == harness(cnn)
        _load_heads(c)
    assert "heads.precision=fp32" in cnn and "data.max_per_split=1000" in cnn


def test_pn36c_continued_ddpms(tmp_path):
    """Thirty-sixth session, second plan: each lane resumes a copy of its 3000-step PneumoniaMNIST DDPM to 4000 steps
    through bench/pn36_ddpm.sh itself (its call differs from that script's default call only in the copy's folder,
    the step count and the kept checkpoints; the original stays untouched), then the three linear probes at 4000
    steps and along the way (500-2500 from the original run, 3500 from the copy), bench/pn36.sh's harness."""
    (tmp_path / "ref").mkdir()
    ref = _lane(tmp_path / "ref", "pn36_ddpm.sh", "5")
    assert len(ref) == 1 and "pretrain" in ref[0] and _get(ref[0], "train.steps") == "3000"
    (tmp_path / "p").mkdir()
    probe = _lane(tmp_path / "p", "pn36.sh", "ddpm5", touch=["ddpm/pn36-s5/ckpt-0003000.pt"])[0]
    for s in (5, 6):
        lane = tmp_path / f"l{s}"
        lane.mkdir()
        calls = _lane(lane, "pn36c.sh", f"lane{s}", touch=[f"ddpm/pn36-s{s}/ckpt-0003000.pt"],
                      DDPM_RUNS36=str(lane / "ddpm36"))
        pre, *feats = calls
        changed = {"run.out_dir": "/ddpm36", "train.steps": "4000", "train.keep_ckpts": "10"}
        want = [a.replace("pn36-s5", f"pn36-s{s}") for a in ref[0] if a.split("=")[0] not in changed
                and not a.startswith("run.seed=")] + [f"run.seed={s}"]
        assert sorted(want) == sorted(a for a in pre if a.split("=")[0] not in changed)
        assert {k: _get(pre, k) for k in changed} == changed and _get(pre, "run.name") == f"pn36-s{s}"
        assert (lane / "ddpm36" / f"pn36-s{s}" / "ckpt-0003000.pt").is_file()
        assert (lane / "ddpm" / f"pn36-s{s}" / "ckpt-0003000.pt").is_file()
        assert [(_get(c, "run.name"), _ckpt(c)) for c in feats] == [
            (f"le-pn-s{s}-d36k40", f"/ddpm36/pn36-s{s}/ckpt-0004000.pt")] + [
            (f"le-pn-s{s}-d36k{k // 100}", f"/ddpm/pn36-s{s}/ckpt-{k:07d}.pt") for k in (500, 1000, 1500, 2000, 2500)] + [
            (f"le-pn-s{s}-d36k35", f"/ddpm36/pn36-s{s}/ckpt-0003500.pt")]
        own = ("run.name", "pipeline.checkpoint")
        for c in feats:  # everything else as bench/pn36.sh's 3000-step probe run
            assert sorted(a for a in c if not a.startswith(own)) == sorted(a for a in probe if not a.startswith(own))


def test_pn36d_new_head_seeds(tmp_path):
    """Thirty-sixth session, third plan: head seeds 6-11 at 5-25 labels for the CNNs, the probes on both DDPMs (hard
    links to their 3000-step runs) and the random U-Net, with bench/pn36.sh's harness otherwise."""
    (tmp_path / "b").mkdir()
    cnn = _lane(tmp_path, "pn36d.sh", "cnn")
    probes = _lane(tmp_path / "b", "pn36d.sh", "probes")
    lin = "['linear_best','linear_ks','linear_topk']"
    assert [(_get(c, "run.name"), _ckpt(c), _get(c, "heads.methods")) for c in cnn + probes] == [
        ("le-pn-baselines-d36s611", None, "['resnet18','small_cnn']"),
        ("le-pn-s5-d36s611", "/ddpm/pn36-s5/ckpt-0003000.pt", lin),
        ("le-pn-s6-d36s611", "/ddpm/pn36-s6/ckpt-0003000.pt", lin),
        ("le-pn-random-d36s611", "bench/runs/le-pn-baselines-d34/ddpm/ckpt-0000002.pt", lin)]
    (tmp_path / "c").mkdir()
    ref = _lane(tmp_path / "c", "pn36.sh", "ddpm5", touch=["ddpm/pn36-s5/ckpt-0003000.pt"])[0]
    own = ("run.name", "pipeline.checkpoint", "heads.label_budgets", "heads.seeds")
    for c in probes:
        assert (_get(c, "heads.label_budgets"), _seeds(c)) == ("[5,10,25]", "heads.seeds=[6,7,8,9,10,11]")
        assert sorted(a for a in c if not a.startswith(own)) == sorted(a for a in ref if not a.startswith(own))
    assert (_get(cnn[0], "heads.label_budgets"), _seeds(cnn[0])) == ("[5,10,25]", "heads.seeds=[6,7,8,9,10,11]")


def test_a3d36_new_head_seeds(tmp_path):
    """Thirty-sixth session, fourth plan: AdrenalMNIST3D at 5 and 10 labels on head seeds 6-11, as a3d34.sh's lanes."""
    (tmp_path / "b").mkdir()
    a = _lane(tmp_path, "a3d36.sh", "laneA")
    b = _lane(tmp_path / "b", "a3d36.sh", "laneB")
    assert [(_get(c, "run.name"), _ckpt(c), _seeds(c)) for c in a + b] == (
        [(f"le-a3d-baselines-d36rn{s}", None, f"heads.seeds=[{s}]") for s in (6, 7, 8)]
        + [("le-a3d-baselines-d36small", None, "heads.seeds=[6,7,8,9,10,11]"),
           ("le-a3d-s0-d36s611", "/ddpm/a3d27-s0/ckpt-0002000.pt", "heads.seeds=[6,7,8,9,10,11]"),
           ("le-a3d-s1-d36s611", "/ddpm/a3d27-s1/ckpt-0002000.pt", "heads.seeds=[6,7,8,9,10,11]"),
           ("le-a3d-random-d36r0s611", RN0, "heads.seeds=[6,7,8,9,10,11]"),
           ("le-a3d-random-d36r1s611", INIT1, "heads.seeds=[6,7,8,9,10,11]")]
        + [(f"le-a3d-baselines-d36rn{s}", None, f"heads.seeds=[{s}]") for s in (9, 10, 11)])
    for c in a + b:
        assert (_get(c, "preset"), _get(c, "heads.label_budgets"), _get(c, "heads.precision")) == (
            "cpu-3d-28", "[5,10]", "fp32")
        _load_heads(c)


def test_pn37_wide_ddpm_lanes(tmp_path):
    """Thirty-seventh session: each lane trains its wide DDPM (bench/pn36_ddpm.sh's call with twice the channels, its
    own seed and name, 2000 steps) unless its last checkpoint exists, then the three probes at head seeds 0-5 and 6-11
    in bench/pn36.sh's / pn36d.sh's harness; `ctl` trains the 2-step wide U-Net and probes it the same way."""
    (tmp_path / "ref").mkdir()
    ref = _lane(tmp_path / "ref", "pn36_ddpm.sh", "5")[0]
    (tmp_path / "d").mkdir()
    pre = _lane(tmp_path / "d", "pn37.sh", "lane", "7", rc=1)
    assert len(pre) == 1  # no checkpoint came out of the stand-in: no probe run starts, and the lane exits 1
    changed = {"run.name": "pn37w-s7", "run.seed": "7", "train.steps": "2000", "train.keep_ckpts": "4"}
    assert {k: _get(pre[0], k) for k in changed} == changed
    assert sorted(a for a in pre[0] if a.split("=")[0] not in changed) == sorted(
        [a for a in ref if a.split("=")[0] not in changed] + ["model.unet.channels=[64,128,128]"])
    load_config(None, ["preset=cpu-28", "model.unet.channels=[64,128,128]"])
    lin = "['linear_best','linear_ks','linear_topk']"
    probes = []
    for s in (7, 8):
        (tmp_path / f"p{s}").mkdir()
        probes += _lane(tmp_path / f"p{s}", "pn37.sh", "lane", str(s), touch=[f"ddpm/pn37w-s{s}/ckpt-0002000.pt"])
    assert [(_get(c, "run.name"), _ckpt(c), _get(c, "heads.label_budgets"), _seeds(c)) for c in probes] == [
        (f"le-pn-s{s}{x}", f"/ddpm/pn37w-s{s}/ckpt-0002000.pt", b, h) for s in (7, 8) for x, b, h in (
            ("-d37w", "[5,10,25,50]", "heads.seeds=[0,1,2,3,4,5]"),
            ("-d37ws611", "[5,10,25]", "heads.seeds=[6,7,8,9,10,11]"))]
    assert all(_get(c, "heads.methods") == lin for c in probes)
    (tmp_path / "c").mkdir()
    ctl = _lane(tmp_path / "c", "pn37.sh", "ctl")
    assert _get(ctl[0], "run.name") == "pn37w-init" and _get(ctl[0], "train.steps") == "2"
    assert _get(ctl[0], "train.ckpt_every") == "2" and "model.unet.channels=[64,128,128]" in ctl[0]
    init = "/ddpm/pn37w-init/ckpt-0000002.pt"
    assert [(_get(c, "run.name"), _ckpt(c), _get(c, "heads.methods"), _seeds(c)) for c in ctl[1:]] == [
        ("le-pn-random-d37w", init, "['linear_ks']", "heads.seeds=[0,1,2,3,4,5]"),
        ("le-pn-random-d37ws611", init, "['linear_ks']", "heads.seeds=[6,7,8,9,10,11]")]
    (tmp_path / "r").mkdir()
    r36 = _lane(tmp_path / "r", "pn36.sh", "ddpm5", touch=["ddpm/pn36-s5/ckpt-0003000.pt"])[0]
    own = ("run.name", "pipeline.checkpoint", "heads.label_budgets", "heads.seeds", "heads.methods")
    for c in probes + ctl[1:]:  # the harness of the thirty-sixth session's probe runs, so the same subsets
        assert sorted(a for a in c if not a.startswith(own)) == sorted(a for a in r36 if not a.startswith(own))


def test_pn37b_continued_wide_ddpms(tmp_path):
    """Thirty-seventh session, declared addition: each lane copies its wide DDPM and resumes the copy to 3000 steps
    with bench/pn37.sh's pretrain call (only the folder and the step count differ; the original stays untouched),
    then the three probes at head seeds 0-5 and 6-11 on the step-3000 checkpoint in bench/pn37.sh's harness."""
    (tmp_path / "ref").mkdir()
    ref = _lane(tmp_path / "ref", "pn37.sh", "lane", "7", rc=1)[0]
    (tmp_path / "p").mkdir()
    ref_probes = _lane(tmp_path / "p", "pn37.sh", "lane", "7", touch=["ddpm/pn37w-s7/ckpt-0002000.pt"])
    for s in (7, 8):
        lane = tmp_path / f"l{s}"
        lane.mkdir()
        pre, *probes = _lane(lane, "pn37b.sh", "lane", str(s), touch=[f"ddpm/pn37w-s{s}/ckpt-0002000.pt"],
                             DDPM_RUNS37=str(lane / "ddpm37"))
        changed = {"run.out_dir": "/ddpm37", "train.steps": "3000"}
        assert {k: _get(pre, k) for k in changed} == changed
        want = [a.replace("pn37w-s7", f"pn37w-s{s}").replace("run.seed=7", f"run.seed={s}") for a in ref]
        assert sorted(a for a in pre if a.split("=")[0] not in changed) == sorted(
            a for a in want if a.split("=")[0] not in changed)
        assert (lane / "ddpm37" / f"pn37w-s{s}" / "ckpt-0002000.pt").is_file()  # the copy
        assert (lane / "ddpm" / f"pn37w-s{s}" / "ckpt-0002000.pt").is_file()    # the original, kept
        ck = f"/ddpm37/pn37w-s{s}/ckpt-0003000.pt"
        assert [(_get(c, "run.name"), _ckpt(c)) for c in probes] == [
            (f"le-pn-s{s}-d37w30", ck), (f"le-pn-s{s}-d37w30s611", ck)]
        own = ("run.name", "pipeline.checkpoint")
        for c, r in zip(probes, ref_probes, strict=True):
            assert sorted(a for a in c if not a.startswith(own)) == sorted(a for a in r if not a.startswith(own))


def test_pn38_fine_tune_lanes_share_the_cnn_harness(tmp_path):
    """bench/pn38.sh (thirty-eighth session): the CNNs, the probes, backbone_ft (added to the probe runs, so their
    cells are reused) and the random-init control run with one harness, head seeds 0-5 at 5, 10, 25 labels; the
    control waits for the CNN run's 2-step DDPM; FT_SCALE reaches heads.ft_lr_scale."""
    cks = [f"ddpm/pn36-s{s}/ckpt-0003000.pt" for s in (5, 6)] + ["bench/runs/le-pn-baselines-d38/ddpm/ckpt-0000002.pt"]
    calls = _lanes(tmp_path, "pn38.sh", ["cnn"], ["probe", "5"], ["ft", "6"], ["ctl"], touch=cks, FT_SCALE="1.0")
    assert [(_get(c, "run.name"), _ckpt(c), _get(c, "heads.methods")) for c in calls] == [
        ("le-pn-baselines-d38", None, "['resnet18','small_cnn']"),
        ("le-pn-s5-d38", "/ddpm/pn36-s5/ckpt-0003000.pt", "['linear_best','linear_ks','linear_topk']"),
        ("le-pn-s6-d38", "/ddpm/pn36-s6/ckpt-0003000.pt", "['linear_best','linear_ks','linear_topk','backbone_ft']"),
        ("le-pn-random-d38", "bench/runs/le-pn-baselines-d38/ddpm/ckpt-0000002.pt", "['linear_ks','backbone_ft']")]
    own = ("run.name", "heads.methods", "pipeline.checkpoint", "pipeline.stages", "train.", "features.blocks",
           "features.timesteps", "gaussianity.top_k")
    harness = lambda c: sorted(a for a in c if "=" in a and not a.startswith(own))  # noqa: E731
    for c in calls:
        assert harness(c) == harness(calls[0])
        assert _seeds(c) == "heads.seeds=[0,1,2,3,4,5]" and _get(c, "heads.label_budgets") == "[5,10,25]"
        assert _get(c, "heads.ft_lr_scale") == "1.0" and "heads.precision=fp32" in c
        _load_heads(c)
    (tmp_path / "x").mkdir()
    assert _lane(tmp_path / "x", "pn38.sh", rc=2) == []


def test_b64_39_lanes_share_one_harness(tmp_path):
    """bench/b64_39.sh (thirty-ninth session): the probes and backbone_ft on the two new brain DDPMs (seeds 4, 5) and
    the CNNs from scratch split over head seeds and budgets run with one harness on the complete de-duplicated split
    (.dev/brain64_dedup.npz, data.max_per_split=null), fp32, heads.ft_lr_scale=1.0."""
    cks = [f"ddpm/b64-s{s}/ckpt-0003000.pt" for s in (4, 5)]
    calls = _lanes(tmp_path, "b64_39.sh", ["ft", "4"], ["ft", "5"], ["cnn", "'resnet18'", "[10]", "[0,1,2]", "rn10a"],
                   ["cnn", "'small_cnn'", "[5,10]", "[0,1,2,3,4,5]", "sc"], touch=cks)
    assert [_row(c) for c in calls] == [
        ("le-b64-s4-d39", "/ddpm/b64-s4/ckpt-0003000.pt", "['linear_best','linear_ks','backbone_ft']", "[5,10]",
         "heads.seeds=[0,1,2,3,4,5]"),
        ("le-b64-s5-d39", "/ddpm/b64-s5/ckpt-0003000.pt", "['linear_best','linear_ks','backbone_ft']", "[5,10]",
         "heads.seeds=[0,1,2,3,4,5]"),
        ("le-b64-baselines-d39rn10a", None, "['resnet18']", "[10]", "heads.seeds=[0,1,2]"),
        ("le-b64-baselines-d39sc", None, "['small_cnn']", "[5,10]", "heads.seeds=[0,1,2,3,4,5]")]
    own = ("run.name", "heads.methods", "heads.label_budgets", "heads.seeds", "pipeline.checkpoint", "pipeline.stages",
           "train.", "features.blocks", "features.timesteps", "gaussianity.top_k")
    harness = lambda c: sorted(a for a in c if "=" in a and not a.startswith(own))  # noqa: E731
    for c in calls:
        assert harness(c) == harness(calls[0])
        assert [a for a in c if a.startswith("data.path=")][-1] == "data.path=.dev/brain64_dedup.npz"
        assert [a for a in c if a.startswith("data.max_per_split=")][-1] == "data.max_per_split=null"
        assert _get(c, "heads.ft_lr_scale") == "1.0" and "heads.precision=fp32" in c
        _load_heads(c)
    (tmp_path / "x").mkdir()
    assert _lane(tmp_path / "x", "b64_39.sh", rc=2) == []


def test_a3d40_third_draws_on_new_ddpms(tmp_path):
    """Fortieth session: AdrenalMNIST3D at 5 and 10 labels on head seeds 12-17, the probes on the two new DDPMs
    (a3d27-s3, -s4, extracted afresh), the CNNs, and the random U-Net of the small-CNN run as the control."""
    (tmp_path / "b").mkdir()
    rnd = "bench/runs/le-a3d-baselines-d40small/ddpm/ckpt-0000002.pt"
    a = _lane(tmp_path, "a3d40.sh", "laneA", touch=[rnd])
    b = _lane(tmp_path / "b", "a3d40.sh", "laneB")
    six = "heads.seeds=[12,13,14,15,16,17]"
    assert [(_get(c, "run.name"), _ckpt(c), _seeds(c)) for c in a + b] == (
        [("le-a3d-s3-d40", "/ddpm/a3d27-s3/ckpt-0002000.pt", six)]
        + [(f"le-a3d-baselines-d40rn{s}", None, f"heads.seeds=[{s}]") for s in (12, 13, 14)]
        + [("le-a3d-random-d40r0", rnd, six), ("le-a3d-baselines-d40small", None, six),
           ("le-a3d-s4-d40", "/ddpm/a3d27-s4/ckpt-0002000.pt", six)]
        + [(f"le-a3d-baselines-d40rn{s}", None, f"heads.seeds=[{s}]") for s in (15, 16, 17)])
    assert [_get(c, "heads.methods") for c in a + b if _get(c, "run.name").startswith("le-a3d-s")] == [
        "['linear_best','linear_ks','linear_topk']"] * 2
    for c in a + b:
        assert (_get(c, "preset"), _get(c, "heads.label_budgets"), _get(c, "heads.precision")) == (
            "cpu-3d-28", "[5,10]", "fp32")
        _load_heads(c)
    (tmp_path / "x").mkdir()
    assert _lane(tmp_path / "x", "a3d40.sh", rc=2) == []
    ft = []
    for d in (3, 4):
        (tmp_path / f"ft{d}").mkdir()
        ft += _lane(tmp_path / f"ft{d}", "a3d40.sh", "ft", str(d))
    assert [(_get(c, "run.name"), _ckpt(c), _seeds(c), _get(c, "heads.methods"), _get(c, "heads.label_budgets"))
            for c in ft] == [(f"le-a3d-s{d}-d40ft", f"/ddpm/a3d27-s{d}/ckpt-0002000.pt", six,
                              "['linear_best','backbone_ft']", "[5]") for d in (3, 4)]
    assert all("heads.precision=fp32" in c and "preset=cpu-3d-28" in c for c in ft)
    (tmp_path / "ft10").mkdir()
    c = _lane(tmp_path / "ft10", "a3d40.sh", "ft", "4", "10")
    assert [(_get(x, "run.name"), _get(x, "heads.label_budgets"), _seeds(x)) for x in c] == [
        ("le-a3d-s4-d40ft10", "[10]", six)]
    for i, bad in enumerate((["ft", "5"], ["ft", "3", "25"])):
        (tmp_path / f"bad{i}").mkdir()
        assert _lane(tmp_path / f"bad{i}", "a3d40.sh", *bad, rc=2) == []


def test_fuse41_lanes_brain_cells_and_replication(tmp_path):
    """Forty-first session: bench/fuse41.sh (brain MRI: the probes on the thirty-ninth session's DDPMs, linked from
    their -d39 runs; the random-init control; the CNNs at 25 labels) and bench/fuse41b.sh (head seeds 12-17 on
    PneumoniaMNIST and brain MRI) name the runs, checkpoints, budgets and head seeds of the plan, in one harness per
    dataset."""
    cks = [f"ddpm/b64-s{s}/ckpt-0003000.pt" for s in (4, 5)] + [f"ddpm/pn36-s{s}/ckpt-0003000.pt" for s in (5, 6)]
    rnd = "bench/runs/le-b64-baselines-d39rn5/ddpm/ckpt-0000002.pt"
    calls = []
    for i, (script, args) in enumerate((("fuse41.sh", ["topk", "4"]), ("fuse41.sh", ["random"]),
                                        ("fuse41.sh", ["cnn", "'resnet18'", "[25]", "[0,1,2]", "rn25a"]),
                                        ("fuse41b.sh", ["pn"]), ("fuse41b.sh", ["b64probes"]),
                                        ("fuse41b.sh", ["b64rn", "[15,16,17]", "rn12b"]))):
        (tmp_path / str(i)).mkdir()
        calls += _lane(tmp_path / str(i), script, *args, touch=cks + [rnd])
    six, new = "heads.seeds=[0,1,2,3,4,5]", "heads.seeds=[12,13,14,15,16,17]"
    probes = "['linear_best','linear_ks','linear_topk']"
    pn_rnd = "bench/runs/le-pn-baselines-d38/ddpm/ckpt-0000002.pt"
    assert [_row(c) for c in calls] == [
        ("le-b64-s4-d41", "/ddpm/b64-s4/ckpt-0003000.pt", probes, "[5,10,25]", six),
        ("le-b64-random-d41r", rnd, probes, "[5,10,25]", six),
        ("le-b64-baselines-d41rn25a", None, "['resnet18']", "[25]", "heads.seeds=[0,1,2]"),
        ("le-pn-s5-d41", "/ddpm/pn36-s5/ckpt-0003000.pt", probes, "[5,10,25]", new),
        ("le-pn-s6-d41", "/ddpm/pn36-s6/ckpt-0003000.pt", probes, "[5,10,25]", new),
        ("le-pn-baselines-d41", None, "['resnet18','small_cnn']", "[5,10,25]", new),
        ("le-pn-random-d41", pn_rnd, probes, "[5,10,25]", new),
        ("le-b64-s4-d41s12", "/ddpm/b64-s4/ckpt-0003000.pt", probes, "[5,10]", new),
        ("le-b64-s5-d41s12", "/ddpm/b64-s5/ckpt-0003000.pt", probes, "[5,10]", new),
        ("le-b64-baselines-d41sc12", None, "['small_cnn']", "[5,10]", new),
        ("le-b64-random-d41rs12", rnd, probes, "[5,10]", new),
        ("le-b64-baselines-d41rn12b", None, "['resnet18']", "[5,10]", "heads.seeds=[15,16,17]")]
    for c in calls:
        assert "heads.precision=fp32" in c and _get(c, "heads.ft_lr_scale") == "1.0"
        brain = [a for a in c if a.startswith("data.path=")][-1:] == ["data.path=.dev/brain64_dedup.npz"]
        assert brain == _get(c, "run.name").startswith("le-b64")
        _load_heads(c)
    (tmp_path / "3d").mkdir()
    (tmp_path / "3drn").mkdir()
    a3d = _lane(tmp_path / "3d", "fuse41b.sh", "a3d") + _lane(tmp_path / "3drn", "fuse41b.sh", "a3drn", "[18,19,20]", "rn18a")
    s18 = "heads.seeds=[18,19,20,21,22,23]"
    a3d_rnd = "bench/runs/le-a3d-baselines-d40small/ddpm/ckpt-0000002.pt"
    assert [_row(c) for c in a3d] == [
        ("le-a3d-s3-d41s18", "/ddpm/a3d27-s3/ckpt-0002000.pt", probes, "[5]", s18),
        ("le-a3d-s4-d41s18", "/ddpm/a3d27-s4/ckpt-0002000.pt", probes, "[5]", s18),
        ("le-a3d-baselines-d41sc18", None, "['small_cnn']", "[5]", s18),
        ("le-a3d-random-d41rs18", a3d_rnd, probes, "[5]", s18),
        ("le-a3d-baselines-d41rn18a", None, "['resnet18']", "[5]", "heads.seeds=[18,19,20]")]
    assert all(_get(c, "preset") == "cpu-3d-28" and "heads.precision=fp32" in c for c in a3d)
    for i, (script, bad) in enumerate((("fuse41.sh", []), ("fuse41b.sh", ["b64"]))):
        (tmp_path / f"bad{i}").mkdir()
        assert _lane(tmp_path / f"bad{i}", script, *bad, rc=2) == []


def test_pn42_lanes_new_ddpms_and_third_draws(tmp_path):
    """Forty-second session: bench/pn42.sh runs the probes on the two new DDPMs (seeds 7 and 8, extracted afresh), the
    CNNs and the random-init probes (linked from le-pn-random-d38) on head seeds 24-29 at 5, 10 and 25 labels."""
    cks = [f"ddpm/pn36-s{s}/ckpt-0003000.pt" for s in (7, 8)]
    calls = []
    for lane in ("probes", "cnns"):
        (tmp_path / lane).mkdir()
        calls += _lane(tmp_path / lane, "pn42.sh", lane, touch=cks)
    s24 = "heads.seeds=[24,25,26,27,28,29]"
    probes = "['linear_best','linear_ks','linear_topk']"
    assert [_row(c) for c in calls] == [
        ("le-pn-s7-d42", "/ddpm/pn36-s7/ckpt-0003000.pt", probes, "[5,10,25]", s24),
        ("le-pn-s8-d42", "/ddpm/pn36-s8/ckpt-0003000.pt", probes, "[5,10,25]", s24),
        ("le-pn-baselines-d42", None, "['resnet18','small_cnn']", "[5,10,25]", s24),
        ("le-pn-random-d42", "bench/runs/le-pn-baselines-d38/ddpm/ckpt-0000002.pt", probes, "[5,10,25]", s24)]
    for c in calls:
        assert "heads.precision=fp32" in c and _get(c, "heads.ft_lr_scale") == "1.0"
        _load_heads(c)
    (tmp_path / "cross").mkdir()
    cross = _lane(tmp_path / "cross", "pn42.sh", "cross", touch=cks)
    s0, s12 = "heads.seeds=[0,1,2,3,4,5]", "heads.seeds=[12,13,14,15,16,17]"
    assert [(_get(c, "run.name"), _ckpt(c), _seeds(c)) for c in cross] == [
        ("le-pn-s7-d42s0", "/ddpm/pn36-s7/ckpt-0003000.pt", s0), ("le-pn-s7-d42s12", "/ddpm/pn36-s7/ckpt-0003000.pt", s12),
        ("le-pn-s8-d42s0", "/ddpm/pn36-s8/ckpt-0003000.pt", s0), ("le-pn-s8-d42s12", "/ddpm/pn36-s8/ckpt-0003000.pt", s12),
        ("le-pn-s5-d42s24", "/ddpm/pn36-s5/ckpt-0003000.pt", s24), ("le-pn-s6-d42s24", "/ddpm/pn36-s6/ckpt-0003000.pt", s24)]
    assert all(_get(c, "heads.methods") == probes and _get(c, "heads.label_budgets") == "[5,10,25]" for c in cross)
    (tmp_path / "pkg").mkdir()
    (pkg,) = _lane(tmp_path / "pkg", "pn42.sh", "pkg", touch=cks)
    assert (_get(pkg, "run.name"), _ckpt(pkg), _seeds(pkg)) == ("le-pn-s7-d42pkg", "/ddpm/pn36-s7/ckpt-0003000.pt", s24)
    cfg = _load_heads(pkg)
    assert cfg.heads.methods == ("linear_topk", "small_cnn", "resnet18", "fused")
    assert cfg.heads.fuse_methods == ("linear_topk", "small_cnn", "resnet18")
    assert _refused(tmp_path, "pn42.sh")


def test_b64_42_lanes_third_brain_draws(tmp_path):
    """Forty-second session, addition 3: bench/b64_42.sh runs the brain MRI probes (linked from -d39), the small CNN,
    the random-init probes and the ResNet-18 at 5 labels on head seeds 24-29, in the brain harness."""
    rnd = "bench/runs/le-b64-baselines-d39rn5/ddpm/ckpt-0000002.pt"
    calls = _lanes(tmp_path, "b64_42.sh", ["probes"], ["rn", "[24,25,26]", "rn24a"])
    s24 = "heads.seeds=[24,25,26,27,28,29]"
    probes = "['linear_best','linear_ks','linear_topk']"
    assert [_row(c) for c in calls] == [
        ("le-b64-s4-d42s24", "/ddpm/b64-s4/ckpt-0003000.pt", probes, "[5]", s24),
        ("le-b64-s5-d42s24", "/ddpm/b64-s5/ckpt-0003000.pt", probes, "[5]", s24),
        ("le-b64-baselines-d42sc24", None, "['small_cnn']", "[5]", s24),
        ("le-b64-random-d42rs24", rnd, probes, "[5]", s24),
        ("le-b64-baselines-d42rn24a", None, "['resnet18']", "[5]", "heads.seeds=[24,25,26]")]
    for c in calls:
        assert "heads.precision=fp32" in c and [a for a in c if a.startswith("data.path=")][-1] == \
            "data.path=.dev/brain64_dedup.npz"
        _load_heads(c)
    assert _refused(tmp_path, "b64_42.sh")


def test_a3d43_lanes_fresh_3d_draws_and_a_second_random_unet(tmp_path):
    """Forty-third session: bench/a3d43.sh runs, on head seeds 24-35 at 5 labels, the probes on a3d27-s{3,4} (linked
    from -d40), the small CNN, the probes on the run.seed-0 random-init U-Net; a 2-step throwaway DDPM of run.seed 1
    and the probes on it (head seeds 12-35); the ResNet-18 3D; and a new DDPM (a3d27_ddpm.sh) with its probes."""
    s24 = "heads.seeds=[24,25,26,27,28,29,30,31,32,33,34,35]"
    probes = "['linear_best','linear_ks','linear_topk']"
    calls = _lanes(tmp_path, "a3d43.sh", ["probes"], ["random1"], ["rn", "[24,25,26]", "rn24a"], ["ddpm", "5"],
                   touch=["ddpm/a3d27-s5/ckpt-0002000.pt"])
    pretrain = [c for c in calls if "pretrain" in c]
    assert len(pretrain) == 1 and _get(pretrain[0], "run.name") == "a3d27-s5" and _get(pretrain[0], "run.seed") == "5"
    assert _get(pretrain[0], "train.steps") == "2000" and "preset=cpu-3d-28" in pretrain[0]
    runs = [c for c in calls if "pretrain" not in c]
    assert [_row(c) for c in runs] == [
        ("le-a3d-s3-d43", "/ddpm/a3d27-s3/ckpt-0002000.pt", probes, "[5]", s24),
        ("le-a3d-s4-d43", "/ddpm/a3d27-s4/ckpt-0002000.pt", probes, "[5]", s24),
        ("le-a3d-baselines-d43sc", None, "['small_cnn']", "[5]", s24),
        ("le-a3d-random-d43r0", "bench/runs/le-a3d-baselines-d40small/ddpm/ckpt-0000002.pt", probes, "[5]", s24),
        ("le-a3d-baselines-d43seed1", None, "['small_cnn']", "[5]", "heads.seeds=[0]"),
        ("le-a3d-random-d43r1", "bench/runs/le-a3d-baselines-d43seed1/ddpm/ckpt-0000002.pt", probes, "[5]",
         "heads.seeds=[12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35]"),
        ("le-a3d-baselines-d43rn24a", None, "['resnet18']", "[5]", "heads.seeds=[24,25,26]"),
        ("le-a3d-s5-d43", "/ddpm/a3d27-s5/ckpt-0002000.pt", probes, "[5]", s24)]
    assert [_get(c, "run.seed") for c in runs if any(a.startswith("run.seed=") for a in c)] == ["1"]
    for c in runs:
        assert "heads.precision=fp32" in c and "preset=cpu-3d-28" in c
        _load_heads(c)
    assert _refused(tmp_path, "a3d43.sh")


def test_a3d43b_lanes_ten_labels_on_d1(tmp_path):
    """Forty-third session, declared addition: bench/a3d43b.sh runs the probes on the four 3D DDPMs (linked from -d43),
    the small CNN, the probes on both random-init U-Nets and the ResNet-18 3D at 10 labels on head seeds 24-29."""
    s24 = "heads.seeds=[24,25,26,27,28,29]"
    probes = "['linear_best','linear_ks','linear_topk']"
    calls = _lanes(tmp_path, "a3d43b.sh", ["probes"], ["rn", "[24,25,26]", "rn24a"],
                   touch=[f"ddpm/a3d27-s{s}/ckpt-0002000.pt" for s in (5, 6)])
    assert [_row(c) for c in calls] == [
        *((f"le-a3d-s{s}-d43b10", f"/ddpm/a3d27-s{s}/ckpt-0002000.pt", probes, "[10]", s24) for s in (3, 4, 5, 6)),
        ("le-a3d-baselines-d43b10sc", None, "['small_cnn']", "[10]", s24),
        ("le-a3d-random-d43b10r0", "bench/runs/le-a3d-baselines-d40small/ddpm/ckpt-0000002.pt", probes, "[10]", s24),
        ("le-a3d-random-d43b10r1", "bench/runs/le-a3d-baselines-d43seed1/ddpm/ckpt-0000002.pt", probes, "[10]", s24),
        ("le-a3d-baselines-d43b10rn24a", None, "['resnet18']", "[10]", "heads.seeds=[24,25,26]")]
    for c in calls:
        assert "heads.precision=fp32" in c
        _load_heads(c)
    assert _refused(tmp_path, "a3d43b.sh")


def test_a3d44_lanes_ten_labels_on_d2_d3(tmp_path):
    """Forty-fourth session: bench/a3d44.sh runs, for a draw set named on the command line, the probes on the four 3D
    DDPMs (linked from -d43), the small CNN, the probes on both random-init U-Nets and the ResNet-18 3D at 10 labels."""
    s36 = "heads.seeds=[36,37,38,39,40,41]"
    probes = "['linear_best','linear_ks','linear_topk']"
    calls = _lanes(tmp_path, "a3d44.sh", ["probes", "[36,37,38,39,40,41]", "d3"], ["rn", "[30,31,32]", "d2rna"],
                   touch=[f"ddpm/a3d27-s{s}/ckpt-0002000.pt" for s in (5, 6)])
    assert [_row(c) for c in calls] == [
        *((f"le-a3d-s{s}-d44d3", f"/ddpm/a3d27-s{s}/ckpt-0002000.pt", probes, "[10]", s36) for s in (3, 4, 5, 6)),
        ("le-a3d-baselines-d44d3sc", None, "['small_cnn']", "[10]", s36),
        ("le-a3d-random-d44d3r0", "bench/runs/le-a3d-baselines-d40small/ddpm/ckpt-0000002.pt", probes, "[10]", s36),
        ("le-a3d-random-d44d3r1", "bench/runs/le-a3d-baselines-d43seed1/ddpm/ckpt-0000002.pt", probes, "[10]", s36),
        ("le-a3d-baselines-d44d2rna", None, "['resnet18']", "[10]", "heads.seeds=[30,31,32]")]
    for c in calls:
        assert "heads.precision=fp32" in c
        _load_heads(c)
    assert _refused(tmp_path, "a3d44.sh")


def test_pn44_lanes_ten_labels_new_draws(tmp_path):
    """Forty-fourth session: bench/pn44.sh runs a second random-init PneumoniaMNIST U-Net (run.seed 1), the probes on
    the four 3000-step DDPMs and both random-init U-Nets (linked feature banks) and the CNNs at 10 labels, head seeds
    30-41."""
    s = "heads.seeds=[30,31,32,33,34,35,36,37,38,39,40,41]"
    probes = "['linear_best','linear_ks','linear_topk']"
    calls = _lanes(tmp_path, "pn44.sh", ["random1"], ["probes"], ["cnns", "[36,37,38,39,40,41]", "s36"])
    assert [_row(c) for c in calls] == [
        ("le-pn-baselines-d44seed1", None, "['small_cnn']", "[10]", "heads.seeds=[0]"),
        ("le-pn-random-d44r1", "bench/runs/le-pn-baselines-d44seed1/ddpm/ckpt-0000002.pt", probes, "[10]", s),
        *((f"le-pn-s{k}-d44", f"/ddpm/pn36-s{k}/ckpt-0003000.pt", probes, "[10]", s) for k in (5, 6, 7, 8)),
        ("le-pn-random-d44r0", "bench/runs/le-pn-baselines-d38/ddpm/ckpt-0000002.pt", probes, "[10]", s),
        ("le-pn-baselines-d44s36", None, "['resnet18','small_cnn']", "[10]", "heads.seeds=[36,37,38,39,40,41]")]
    assert "run.seed=1" in calls[0]
    for c in calls:
        assert "heads.precision=fp32" in c
        _load_heads(c)
    assert _refused(tmp_path, "pn44.sh")


def test_b64_44_lanes_second_brain_pair(tmp_path):
    """Forty-fourth session: bench/b64_44.sh trains a brain DDPM with the b64 recipe (b64-s4's settings) and runs the
    probes on it at 5 labels for head seeds 24-29 (extracted afresh), then 0-5 and 12-17 (linked)."""
    (tmp_path / "0").mkdir()
    ddpm = _lane(tmp_path / "0", "b64_44.sh", "ddpm", "6")
    assert len(ddpm) == 1 and ddpm[0][:3] == ["-P", "-m", "medfx"] and ddpm[0][3] == "pretrain"
    for kv in ("preset=cpu-64", "data.path=.dev/brain64_dedup.npz", "data.max_per_split=null", "run.seed=6",
               "run.name=b64-s6", "train.steps=3000", "train.batch_size=32", "train.precision=auto", "run.threads=1"):
        assert kv in ddpm[0], kv
    (tmp_path / "1").mkdir()
    probes = _lane(tmp_path / "1", "b64_44.sh", "probes", "6", touch=["ddpm/b64-s6/ckpt-0003000.pt"])
    p = "['linear_best','linear_ks','linear_topk']"
    assert [_row(c) for c in probes] == [
        (f"le-b64-s6-d44s{h}", "/ddpm/b64-s6/ckpt-0003000.pt", p, "[5]",
         "heads.seeds=[" + ",".join(str(h + i) for i in range(6)) + "]") for h in (24, 0, 12)]
    for c in probes:
        assert "data.path=.dev/brain64_dedup.npz" in c and "heads.precision=fp32" in c
        _load_heads(c)
    assert _refused(tmp_path, "b64_44.sh", "ddpm")


def test_b64_45_lanes_backbone_ft_at_25_labels(tmp_path):
    """Forty-fifth session: bench/b64_45.sh runs backbone_ft and the KS-keys probe at 25 labels on the first brain
    DDPM pair (head seeds 0-5, fine-tuning learning-rate scale 1.0), feature banks linked from the -d41 runs."""
    calls = _lanes(tmp_path, "b64_45.sh", ["ft25", "4"], ["ft25", "5"])
    assert [_row(c) for c in calls] == [
        (f"le-b64-s{s}-d45ft25", f"/ddpm/b64-s{s}/ckpt-0003000.pt", "['backbone_ft','linear_ks']", "[25]",
         "heads.seeds=[0,1,2,3,4,5]") for s in (4, 5)]
    for c in calls:
        for kv in ("data.path=.dev/brain64_dedup.npz", "heads.precision=fp32", "heads.ft_lr_scale=1.0"):
            assert kv in c, kv
        _load_heads(c)
    assert _refused(tmp_path, "b64_45.sh", "ft25")


def _from_scratch_lanes(tmp_path, script, tag, suffix, ddpm_name, recipe, budgets, summary, data=()):
    """The common shape of a from-scratch reproduction lane script (bench/pn46.sh, bench/b64_47.sh): `ddpm 9` trains
    one DDPM with the dataset's recipe; `all` trains two new DDPMs (seeds 9 and 10), runs the probes on each, the CNNs
    and the probes on the CNN run's random-init U-Net at ``budgets``, head seeds 42-47, nothing linked, then the summary
    (five `medfx fuse` calls). ``ddpm_name``: the DDPMs' run name before the seed. Returns the calls of `all`."""
    s, p = "heads.seeds=[42,43,44,45,46,47]", "['linear_best','linear_ks','linear_topk']"
    ck = {k: f"ddpm/{ddpm_name}{k}/ckpt-0003000.pt" for k in (9, 10)}
    throwaway = f"bench/runs/le-{tag}-baselines{suffix}/ddpm/ckpt-0000002.pt"
    (tmp_path / "0").mkdir()
    ddpm = _lane(tmp_path / "0", script, "ddpm", "9")
    assert len(ddpm) == 1 and ddpm[0][:4] == ["-P", "-m", "medfx", "pretrain"]
    for kv in (*recipe, f"run.name={ddpm_name}9", "run.seed=9", "train.steps=3000", "run.threads=1"):
        assert kv in ddpm[0], kv
    (tmp_path / "1").mkdir()
    calls = _lane(tmp_path / "1", script, "all", touch=[*ck.values(), throwaway], files=[summary, "fuse_lib.sh"])
    runs = sorted(_row(c) for c in calls if any(a.startswith("run.name=le-") for a in c))
    assert runs == sorted([
        (f"le-{tag}-baselines{suffix}", None, "['resnet18','small_cnn']", budgets, s),
        (f"le-{tag}-random{suffix}", throwaway, p, budgets, s),
        *((f"le-{tag}-s{k}{suffix}", "/" + ck[k], p, budgets, s) for k in (9, 10))])
    for c in calls:
        if any(a.startswith("run.name=le-") for a in c):
            for kv in ("heads.precision=fp32", *data):
                assert kv in c, kv
            _load_heads(c)
    assert sorted(_get(c, "run.name") for c in calls if "pretrain" in c) == [f"{ddpm_name}10", f"{ddpm_name}9"]
    fuses = [c for c in calls if c[2:4] == ["medfx", "fuse"]]
    assert [c[c.index("--name") + 1] for c in fuses] == ["fuse_topk_sc"] * 3 + ["fuse_rn_sc", "fuse_ens"]
    assert f"resnet18@runs/le-{tag}-baselines{suffix}" in fuses[3]
    assert f"linear_topk@runs/le-{tag}-random{suffix}" in fuses[2]
    for c in fuses:
        assert c[c.index("--seeds") + 1:] == ["42", "43", "44", "45", "46", "47"]
    assert _refused(tmp_path, script, "probes")
    return calls


def test_pn46_from_scratch_lanes(tmp_path):
    """Forty-sixth session: bench/pn46.sh, PneumoniaMNIST (cpu-28 recipe) at 5 and 10 labels; the summary's paired
    rows come from bench/paired_methods.py."""
    _from_scratch_lanes(tmp_path, "pn46.sh", "pn", "-d46", "pn46-s", ("preset=cpu-28",), "[5,10]",
                        "pn46_summary.sh")
    assert (tmp_path / "1" / "bench" / "results" / "pn46.txt").exists()


def test_b64_47_from_scratch_lanes(tmp_path):
    """Forty-seventh session: bench/b64_47.sh, brain MRI (the b64 recipe: 3000 steps, batch 32, on the de-duplicated
    npz) at 5 labels; the summary's paired rows come only from `medfx compare`."""
    calls = _from_scratch_lanes(
        tmp_path, "b64_47.sh", "b64", "-d47", "b64-s",
        ("preset=cpu-64", "data.path=.dev/brain64_dedup.npz", "data.max_per_split=null", "train.batch_size=32",
         "train.precision=auto"), "[5]", "b64_47_summary.sh",
        data=("data.path=.dev/brain64_dedup.npz", "data.max_per_split=null"))
    compares = [c for c in calls if c[2:4] == ["medfx", "compare"]]
    assert compares[0][4:7] == ["fuse_topk_sc@runs/fuse47-1-topk,runs/fuse47-2-topk", "--against",
                                "resnet18@runs/le-b64-baselines-d47"]
    assert all(c[c.index("--budgets") + 1] == "5" for c in compares) and len(compares) == 9
    assert (tmp_path / "1" / "bench" / "results" / "b64_47.txt").exists()


def test_ens48_new_draw_sets_on_linked_features(tmp_path):
    """Forty-eighth session: bench/ens48.sh, the two-DDPM fusion on two new draw sets (head seeds 48-59) on the
    from-scratch tests' DDPM pairs: probes on each DDPM and on the first random-init U-Net start from the -d46 / -d47
    runs' features (LINK_FROM), the CNN run draws the second random-init U-Net (run.seed 1), whose probes run empty
    (NOLINK); the summary fuses and compares each draw set on its own head seeds."""
    s, p = "heads.seeds=[48,49,50,51,52,53,54,55,56,57,58,59]", "['linear_best','linear_ks','linear_topk']"
    old = {"pn": "-d46", "b64": "-d47"}
    ck = {(ds, k): f"ddpm/{'pn46' if ds == 'pn' else 'b64'}-s{k}/ckpt-0003000.pt" for ds in old for k in (9, 10)}
    new_tw = {ds: f"bench/runs/le-{ds}-baselines-d48/ddpm/ckpt-0000002.pt" for ds in old}
    old_tw = {ds: f"bench/runs/le-{ds}-baselines{old[ds]}/ddpm/ckpt-0000002.pt" for ds in old}
    calls = _lane(tmp_path, "ens48.sh", "all", touch=[*ck.values(), *new_tw.values()],
                  files=["ens48_summary.sh", "fuse_lib.sh"])
    runs = [c for c in calls if any(a.startswith("run.name=le-") for a in c)]
    assert sorted(_row(c) for c in runs) == sorted(
        [(f"le-{ds}-baselines-d48", None, "['resnet18','small_cnn']", "[5]", s) for ds in old]
        + [(f"le-{ds}-random-d48", old_tw[ds], p, "[5]", s) for ds in old]
        + [(f"le-{ds}-random-d48r1", new_tw[ds], p, "[5]", s) for ds in old]
        + [(f"le-{ds}-s{k}-d48", "/" + ck[(ds, k)], p, "[5]", s) for ds in old for k in (9, 10)])
    for c in runs:
        assert "heads.precision=fp32" in c
        brain = "run.name=le-b64-" in " ".join(c)
        assert ("data.path=.dev/brain64_dedup.npz" in c) == brain and ("data.max_per_split=null" in c) == brain
        assert ("run.seed=1" in c) == ("baselines" in _get(c, "run.name"))  # the second random-init U-Net
        _load_heads(c)
    fuses = [c for c in calls if c[2:4] == ["medfx", "fuse"]]
    # fuse_lib.sh's mpair_fusions with the second random-init run: $T-random is fuse_ens of both random-init U-Nets
    assert [c[c.index("--name") + 1] for c in fuses] == ["fuse_topk_sc", "fuse_topk_sc", "fuse_ens", "fuse_rn_sc",
                                                         "fuse_ens"] * 4
    assert "linear_topk@runs/le-b64-random-d48r1" in fuses[12] and "small_cnn@runs/le-b64-baselines-d48" in fuses[12]
    compares = [c for c in calls if c[2:4] == ["medfx", "compare"]]
    assert len(compares) == 24 and compares[0][4:7] == ["fuse_ens@runs/ens48-pn-D5-ens", "--against",
                                                       "resnet18@runs/le-pn-baselines-d48"]
    draws = [["48", "49", "50", "51", "52", "53"], ["54", "55", "56", "57", "58", "59"]] * 2
    for i, c in enumerate(fuses):
        assert c[c.index("--seeds") + 1:] == draws[i // 5]
    for i, c in enumerate(compares):
        assert c[c.index("--seeds") + 1:c.index("--metrics")] == draws[i // 6]
    assert (tmp_path / "bench" / "results" / "ens48.txt").exists()
    assert _refused(tmp_path, "ens48.sh", "probes", "pn")


def test_ens48_summary_second_pair_and_usage(tmp_path):
    """bench/ens48_summary.sh pair1112: the declared check fuses PneumoniaMNIST's second DDPM pair (s11, s12) with the
    same CNN and random-init runs into their own pseudo runs; an unknown argument is a usage error before any call."""
    calls = _lane(tmp_path, "ens48_summary.sh", "pair1112", files=["fuse_lib.sh"],
                  PY=f"{tmp_path / 'fakepy'} -P")  # as ens48.sh's `all` calls it
    ens = [c for c in calls if c[2:4] == ["medfx", "fuse"] and c[c.index("--out") + 1].endswith("-ens")]
    assert [c[c.index("--out") + 1] for c in ens] == ["runs/ens48-pn1112-D5-ens", "runs/ens48-pn1112-D6-ens"]
    assert {"linear_topk@runs/le-pn-s11-d48", "linear_topk@runs/le-pn-s12-d48",
            "small_cnn@runs/le-pn-baselines-d48"} <= set(ens[0])
    assert not any("b64" in " ".join(c) for c in calls)  # PneumoniaMNIST only
    assert _refused(tmp_path, "ens48_summary.sh", "pair99")


def test_a3d49_probes_then_pilot(tmp_path):
    """Forty-ninth session: bench/a3d49.sh probes waits for the new DDPM's last checkpoint and runs the probes at 5 and
    10 labels, head seeds 0-5, on features extracted afresh; pilot runs the training-data pilot on that run."""
    calls = _lane(tmp_path, "a3d49.sh", "probes", "7", touch=["ddpm/a3d27-s7/ckpt-0002000.pt"])
    assert [_row(c) for c in calls] == [("le-a3d-s7-d49", "/ddpm/a3d27-s7/ckpt-0002000.pt",
                                         "['linear_best','linear_topk']", "[5,10]", "heads.seeds=[0,1,2,3,4,5]")]
    assert "heads.precision=fp32" in calls[0]
    _load_heads(calls[0])
    (tmp_path / "p").mkdir()
    calls = _lane(tmp_path / "p", "a3d49.sh", "pilot", "8")
    # the script writes its TSV itself (run_left sends the command's stdout to the lane log)
    assert calls == [["-P", "bench/pilot49_aug.py", "bench/runs/le-a3d-s8-d49", "5,10", "0,1,2,3,4,5",
                      "bench/results/pilot49_a3d_s8.tsv"]]
    assert _refused(tmp_path, "a3d49.sh", "probes")


def test_a3d50_augmented_ddpm_then_probes(tmp_path):
    """Prepared in the forty-ninth session: bench/a3d50.sh trains the a3d27 recipe with train.augment_shift=2 under
    its own name and the same run.seed, then runs the probes at 5 and 10 labels, head seeds 0-5, on its checkpoint."""
    calls = _lane(tmp_path, "a3d50.sh", "ddpm", "7", touch=["ddpm/a3d50aug-s7/ckpt-0002000.pt"])
    pre = [c for c in calls if "pretrain" in c]
    assert len(pre) == 1 and "run.name=a3d50aug-s7" in pre[0] and "run.seed=7" in pre[0]
    assert pre[0][-1] == "train.augment_shift=2" and "preset=cpu-3d-28" in pre[0]
    load_config(None, [a for a in pre[0] if a.startswith("train.")])  # medfx accepts the lane's train settings
    runs = [c for c in calls if any(a.startswith("run.name=le-") for a in c)]
    assert [_row(c) for c in runs] == [("le-a3d-s7-d50aug", "/ddpm/a3d50aug-s7/ckpt-0002000.pt",
                                        "['linear_best','linear_topk']", "[5,10]", "heads.seeds=[0,1,2,3,4,5]")]
    assert _refused(tmp_path, "a3d50.sh", "probes", "7")
    # without NAME / TRAIN_EXTRA, a3d27_ddpm.sh trains exactly as before
    (tmp_path / "plain").mkdir()
    calls = _lane(tmp_path / "plain", "a3d27_ddpm.sh", "3")
    assert "run.name=a3d27-s3" in calls[0] and calls[0][-1] == "run.threads=1"


def test_a3d50t_lanes(tmp_path):
    """Fiftieth session (pre-registered, run only if the pretraining-augmentation pilot passed): bench/a3d50t.sh runs
    the probes of both DDPM pairs on linked banks, two random-init U-Nets extracted afresh and the CNNs per draw set,
    all at 5 labels on head seeds 60-71 (the CNNs on their draw set's seeds)."""
    s, p = "heads.seeds=[60,61,62,63,64,65,66,67,68,69,70,71]", "['linear_best','linear_topk']"
    calls = _lanes(tmp_path, "a3d50t.sh", ["probes"], ["random", "0"], ["random", "1"],
                   ["cnns", "[60,61,62,63,64,65]", "d1"])
    tw = {k: f"bench/runs/le-a3d-baselines-d50tseed{k}/ddpm/ckpt-0000002.pt" for k in (0, 1)}
    assert [_row(c) for c in calls] == [
        ("le-a3d-s7-d50taug", "/ddpm/a3d50aug-s7/ckpt-0002000.pt", p, "[5]", s),
        ("le-a3d-s8-d50taug", "/ddpm/a3d50aug-s8/ckpt-0002000.pt", p, "[5]", s),
        ("le-a3d-s7-d50t", "/ddpm/a3d27-s7/ckpt-0002000.pt", p, "[5]", s),
        ("le-a3d-s8-d50t", "/ddpm/a3d27-s8/ckpt-0002000.pt", p, "[5]", s),
        ("le-a3d-baselines-d50tseed0", None, "['small_cnn']", "[5]", "heads.seeds=[0]"),
        ("le-a3d-random-d50tr0", tw[0], p, "[5]", s),
        ("le-a3d-baselines-d50tseed1", None, "['small_cnn']", "[5]", "heads.seeds=[0]"),
        ("le-a3d-random-d50tr1", tw[1], p, "[5]", s),
        ("le-a3d-baselines-d50td1", None, "['small_cnn','resnet18']", "[5]", "heads.seeds=[60,61,62,63,64,65]")]
    for c in calls:
        assert "heads.precision=fp32" in c
        assert ("run.seed=1" in c) == (_get(c, "run.name") == "le-a3d-baselines-d50tseed1")
        _load_heads(c)
    assert _refused(tmp_path, "a3d50t.sh", "random")
    (tmp_path / "x").mkdir()
    assert _refused(tmp_path / "x", "a3d50t.sh", "cnns", "[60]")


def test_a3d50t_summary(tmp_path):
    """bench/a3d50t_summary.sh: per draw set, fuse_ens on the augmented pair and its controls (the random-init fusion
    over both random-init U-Nets), the unaugmented pair's fuse_ens, and paired rows restricted to that draw set."""
    calls = _lane(tmp_path, "a3d50t_summary.sh", files=["fuse_lib.sh"], PY=f"{tmp_path / 'fakepy'} -P")
    fuses = [c for c in calls if c[2:4] == ["medfx", "fuse"]]
    assert [c[c.index("--out") + 1] for c in fuses] == [
        f"runs/fuse50-{d}{t}" for d in ("D1", "D2")
        for t in ("-1-topk", "-2-topk", "-random", "-rnsc", "-ens", "-unaug-ens")]
    ens = fuses[4]
    assert {"linear_topk@runs/le-a3d-s7-d50taug", "linear_topk@runs/le-a3d-s8-d50taug",
            "small_cnn@runs/le-a3d-baselines-d50td1"} <= set(ens) and ens[ens.index("--name") + 1] == "fuse_ens"
    assert {"linear_topk@runs/le-a3d-random-d50tr0", "linear_topk@runs/le-a3d-random-d50tr1"} <= set(fuses[2])
    assert {"linear_topk@runs/le-a3d-s7-d50t", "linear_topk@runs/le-a3d-s8-d50t"} <= set(fuses[5])
    assert "small_cnn@runs/le-a3d-baselines-d50td2" in fuses[10]
    compares = [c for c in calls if c[2:4] == ["medfx", "compare"]]
    assert len(compares) == 18
    assert compares[0][4:7] == ["fuse_ens@runs/fuse50-D1-ens", "--against", "resnet18@runs/le-a3d-baselines-d50td1"]
    assert compares[1][6] == "fuse_rn_sc@runs/fuse50-D1-rnsc" and compares[2][6] == "fuse_ens@runs/fuse50-D1-random"
    draws = [["60", "61", "62", "63", "64", "65"], ["66", "67", "68", "69", "70", "71"]]
    for i, c in enumerate(fuses):
        assert c[c.index("--seeds") + 1:] == draws[i // 6]
    for i, c in enumerate(compares):
        assert c[c.index("--seeds") + 1:c.index("--metrics")] == draws[i // 9]
