"""Precision chosen by the hardware, thread plans and the environment report (capability checks mocked)."""

import json

import pytest
import torch

from medfx.utils import hardware as hw
from medfx.utils.hardware import Probe, decide_precision, plan_threads


class FakeProbe(Probe):
    """A workload whose bf16 step is ``ratio`` times as fast as its fp32 step, timed on a fake clock (the ``clock``
    fixture) that each step advances, so the measurement does not depend on how busy the machine is."""

    now = [0.0]

    def __init__(self, ratio, key="fake"):
        self.calls = {"fp32": 0, "bf16": 0}

        def step(dtype):
            name = "fp32" if dtype is None else "bf16"
            self.calls[name] += 1
            FakeProbe.now[0] += 0.01 if name == "fp32" else 0.01 / ratio
            return 8

        super().__init__({"name": key}, step)


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """``hardware.measure`` reads the fake clock that FakeProbe steps advance."""
    monkeypatch.setattr(hw.time, "perf_counter", lambda: FakeProbe.now[0])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDFX_CACHE_DIR", str(tmp_path))
    return tmp_path / "precision.json"


def _native(monkeypatch, yes: bool):
    monkeypatch.setattr(hw, "cpu_capability", lambda: "AVX512" if yes else "AVX2")
    monkeypatch.setattr(hw, "mkldnn_bf16_supported", lambda: yes)


def test_cpu_native_bf16_measured_faster_picks_bf16_and_caches(cache, monkeypatch):
    _native(monkeypatch, True)
    probe = FakeProbe(ratio=3.0)
    d = decide_precision("auto", "cpu", probe, seconds=0.1)
    assert d.name == "bf16" and d.dtype is torch.bfloat16 and not d.grad_scaler
    assert d.measured["bf16"] > 2 * d.measured["fp32"] and d.measured["cached"] is False
    assert "measured" in d.reason and "AVX512" in d.reason
    entry = next(iter(json.loads(cache.read_text()).values()))
    assert entry["workload"] == {"name": "fake"} and entry["bf16"] > entry["fp32"]
    n = dict(probe.calls)
    again = decide_precision("auto", "cpu", probe, seconds=0.1)  # second call: from the cache, no step runs
    assert again.name == "bf16" and again.measured["cached"] is True and probe.calls == n
    assert str(cache) in again.reason


def test_cpu_native_bf16_measured_slower_picks_fp32(cache, monkeypatch):
    _native(monkeypatch, True)
    d = decide_precision("auto", "cpu", FakeProbe(ratio=0.3), seconds=0.1)
    assert d.name == "fp32" and d.dtype is None and d.measured["fp32"] > d.measured["bf16"]
    assert "not faster" in d.reason


def test_cache_is_per_workload_and_machine(cache, monkeypatch):
    _native(monkeypatch, True)
    decide_precision("auto", "cpu", FakeProbe(3.0, key="a"), seconds=0.05)
    decide_precision("auto", "cpu", FakeProbe(3.0, key="b"), seconds=0.05)
    monkeypatch.setattr(hw, "cpu_model", lambda: "another CPU")
    p = FakeProbe(3.0, key="a")
    assert decide_precision("auto", "cpu", p, seconds=0.05).measured["cached"] is False and p.calls["fp32"] > 0
    assert len(json.loads(cache.read_text())) == 3


def test_cpu_without_native_bf16_is_fp32_without_measuring(cache, monkeypatch):
    _native(monkeypatch, False)
    probe = FakeProbe(ratio=10.0)
    d = decide_precision("auto", "cpu", probe)
    assert d.name == "fp32" and "no native bf16" in d.reason and "AVX2" in d.reason
    assert probe.calls == {"fp32": 0, "bf16": 0} and not cache.exists()
    # AVX512 without oneDNN bf16 support is not native either
    monkeypatch.setattr(hw, "cpu_capability", lambda: "AVX512")
    assert decide_precision("auto", "cpu", probe).name == "fp32" and probe.calls["bf16"] == 0


def test_native_without_workload_stays_fp32(cache, monkeypatch):
    _native(monkeypatch, True)
    assert decide_precision("auto", "cpu").name == "fp32"


def test_explicit_precisions(monkeypatch):
    _native(monkeypatch, False)
    assert decide_precision("fp32", "cpu").dtype is None
    d = decide_precision("bf16", "cpu")
    assert d.dtype is torch.bfloat16 and "emulated" in d.reason
    with pytest.raises(ValueError, match="fp16 needs CUDA"):
        decide_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="precision must be one of"):
        decide_precision("half", "cpu")


@pytest.mark.parametrize("bf16,expected", [(True, "bf16"), (False, "fp16")])
def test_cuda_paths_mocked(monkeypatch, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Fake GPU")
    probe = FakeProbe(1.0)
    d = decide_precision("auto", torch.device("cuda", 0), probe)
    assert d.name == expected and d.grad_scaler == (expected == "fp16") and "Fake GPU" in d.reason
    assert probe.calls == {"fp32": 0, "bf16": 0}


def test_backbone_probe_leaves_model_untouched():
    from medfx.config import load_config
    from medfx.models import build_backbone, resolve_backbone_spec

    cfg = load_config(None, ["preset=tiny"])
    model = build_backbone(resolve_backbone_spec(cfg.model, (1, 16, 16), None)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    probe = hw.backbone_probe(model, (1, 16, 16), batch_size=2, train=True)
    ips = hw.measure(probe, ("fp32", "bf16"), seconds=0.0, min_steps=1)
    assert set(ips) == {"fp32", "bf16"} and min(ips.values()) > 0
    assert not model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert probe.key["input"] == [1, 16, 16] and probe.key["mode"] == "train"


def test_thread_plan():
    p = plan_threads("auto", {}, cores=8, load=0.0)
    assert (p.threads, p.interop) == (8, 2) and "8 usable cores / 1 process" in p.reason
    p = plan_threads("auto", {"LOCAL_WORLD_SIZE": "4"}, cores=8, load=0.0)
    assert (p.threads, p.interop) == (2, 1) and "4 processes" in p.reason
    assert plan_threads("auto", {"LOCAL_WORLD_SIZE": "4"}, cores=2, load=0.0).threads == 1
    # a busy machine: only the idle cores are used (never fewer than one thread)
    p = plan_threads("auto", {}, cores=8, load=5.4)
    assert p.threads == 3 and "5.4 cores busy" in p.reason
    assert plan_threads("auto", {}, cores=2, load=16.0).threads == 1
    assert plan_threads("auto", {}, cores=2, load=0.3).threads == 2
    p = plan_threads("auto", {"OMP_NUM_THREADS": "3", "LOCAL_WORLD_SIZE": "4"}, cores=8, load=30.0)
    assert p.threads == 3 and p.reason == "OMP_NUM_THREADS"
    assert plan_threads(5, {"OMP_NUM_THREADS": "3"}, cores=2).threads == 5
    with pytest.raises(ValueError):
        plan_threads(-1, {}, cores=2)


def test_environment_report_is_json_and_text(monkeypatch):
    _native(monkeypatch, False)
    r = hw.environment_report()
    json.dumps(r)
    assert r["torch"] == torch.__version__ and r["cpu"]["capability"] == "AVX2" and r["cpu"]["bf16_native"] is False
    assert r["precision_auto"]["precision"] == "fp32" and r["cpu"]["cores_usable"] >= 1
    assert r["threads"]["torch"] == torch.get_num_threads() and "bench" not in r
    text = hw.format_report(r)
    assert "native bf16: no" in text and "auto -> fp32" in text
    r = hw.environment_report(probe=FakeProbe(2.0), bench_seconds=0.05)
    assert set(r["bench"]["samples_per_s"]) == {"fp32", "bf16"} and "measured" in hw.format_report(r)


def _tiny_backbone():
    from medfx.config import load_config
    from medfx.models import build_backbone, resolve_backbone_spec

    cfg = load_config(None, ["preset=tiny"])
    return build_backbone(resolve_backbone_spec(cfg.model, (1, 16, 16), None)), cfg


def test_extractor_auto_resolves_per_hardware(cache, monkeypatch):
    from medfx.features import FeatureExtractor

    model, cfg = _tiny_backbone()
    x = torch.rand(3, 1, 16, 16) * 2 - 1
    ref = FeatureExtractor(model, cfg.diffusion, timesteps=[0, 10], precision="fp32")(x, [0, 1, 2])
    _native(monkeypatch, False)  # no native bf16: auto is fp32 and the features are the fp32 ones exactly
    ext = FeatureExtractor(model, cfg.diffusion, timesteps=[0, 10], precision="auto")
    got = ext(x, [0, 1, 2])
    assert ext.precision_decision.name == "fp32" and all(torch.equal(ref[k], got[k]) for k in ref)
    _native(monkeypatch, True)  # native and measured faster (mocked timing): bf16 autocast
    monkeypatch.setattr(hw, "measure", lambda probe, names, **k: {"fp32": 10.0, "bf16": 30.0})
    ext = FeatureExtractor(model, cfg.diffusion, timesteps=[0, 10], precision="auto")
    got = ext(x, [0, 1, 2])
    assert ext.precision_decision.name == "bf16"
    bf = FeatureExtractor(model, cfg.diffusion, timesteps=[0, 10], precision="bf16")(x, [0, 1, 2])
    assert all(torch.equal(bf[k], got[k]) for k in ref) and any(not torch.equal(ref[k], got[k]) for k in ref)


def test_head_training_auto_precision(cache, monkeypatch):
    from medfx.heads import ClassifierData, HeadTrainConfig, fit_classifier

    g = torch.Generator().manual_seed(0)
    imgs = torch.randn(16, 1, 8, 8, generator=g)
    data = ClassifierData(torch.arange(16) % 2, images=imgs)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    _native(monkeypatch, True)
    monkeypatch.setattr(hw, "measure", lambda probe, names, **k: {"fp32": 10.0, "bf16": 30.0})
    fit = fit_classifier(net, data, data, HeadTrainConfig(epochs=1, batch_size=8, device="cpu", precision="auto"))
    assert fit.precision["precision"] == "bf16" and "measured" in fit.precision["reason"]
    _native(monkeypatch, False)
    fit = fit_classifier(net, data, data, HeadTrainConfig(epochs=1, batch_size=8, device="cpu", precision="auto"))
    assert fit.precision["precision"] == "fp32"
    with pytest.raises(ValueError, match="precision"):
        HeadTrainConfig(precision="half")


def test_cli_env_text_and_json(capsys, monkeypatch):
    from medfx.cli import main

    _native(monkeypatch, False)
    assert main(["env", "--no-bench", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["precision_auto"]["precision"] == "fp32" and r["cpu"]["capability"] == "AVX2" and "bench" not in r
    _native(monkeypatch, True)
    monkeypatch.setattr(hw, "measure", lambda probe, names, **k: {"fp32": 10.0, "bf16": 5.0})
    assert main(["env", "preset=tiny", "--seconds", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "auto -> fp32" in out and "bf16 not faster" in out and "fp32 10.0 img/s, bf16 5.0 img/s" in out
    assert "DiffusionUNet train step, batch 8 x (1, 16, 16)" in out


def test_cli_applies_run_threads_only_for_work(monkeypatch, tmp_path):
    """``run.threads`` is applied once by a command that works (``auto`` measures the load for 0.3 s), never by a
    --dry-run."""
    import types

    import medfx.workflows.train as wtrain
    from medfx.cli import main
    from medfx.workflows import threads

    plans = []
    monkeypatch.setattr(threads, "apply_threads", plans.append)
    monkeypatch.setattr(wtrain, "train_diffusion", lambda cfg, **k: types.SimpleNamespace(run_dir=tmp_path))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    for argv in (["pretrain", "preset=tiny", "--dry-run"], ["run", "preset=tiny", "--dry-run"],
                 ["fid", "a", "b", "--dry-run"]):
        assert main(argv) == 0 and plans == [], argv
    assert main(["pretrain", "preset=tiny"]) == 0 and len(plans) == 1
    assert 1 <= plans[-1].threads <= hw.usable_cores() and "usable cores" in plans[-1].reason
    assert main(["pretrain", "preset=tiny", "run.threads=3"]) == 0 and len(plans) == 2
    assert plans[-1].threads == 3 and plans[-1].reason == "run.threads"
    assert main(["pretrain", "preset=tiny", "run.threads=0"]) == 0 and len(plans) == 2
    assert main(["pretrain", "preset=tiny", "run.threads=many", "--dry-run"]) == 2


def test_busy_cores_sees_a_spinning_process():
    import subprocess
    import sys as _sys

    from medfx.utils.hardware import busy_cores

    spin = subprocess.Popen([_sys.executable, "-c", "while True: pass"])
    try:
        import time as _time

        _time.sleep(0.5)
        busy = busy_cores(0.5)
    finally:
        spin.kill()
    import os as _os

    assert 0.6 <= busy <= (_os.cpu_count() or 1) + 0.01
