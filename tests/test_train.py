"""DDPM training: learning, checkpoints, resume equivalence, fine-tuning, DDP."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_UNET

from medfx.config import load_config
from medfx.models.checkpoint import CheckpointError, load_backbone, load_checkpoint, save_safetensors
from medfx.train import train_diffusion
from medfx.workflows.train import pretrain


def cfg_for(data, out, name, *extra):
    return load_config(None, [f"data.path={data}", f"run.out_dir={out}", f"run.name={name}", *TINY_UNET, *extra])


def losses(run_dir):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows}  # the last value per step wins (a resumed run rewrites steps)


@pytest.mark.parametrize("fixture,steps", [("npz2d", 40), ("npz3d", 12)])
def test_loss_falls(request, tmp_path, fixture, steps):
    data = request.getfixturevalue(fixture)
    cfg = cfg_for(data, tmp_path, "r", f"train.steps={steps}", "train.batch_size=8", "train.lr=2e-3",
                  "train.log_every=1", f"train.ckpt_every={steps}")
    res = pretrain(cfg)  # the workflow: train_diffusion plus <run>/train.log
    loss = list(losses(res.run_dir).values())
    k = max(2, steps // 4)
    assert sum(loss[-k:]) / k < 0.8 * sum(loss[:k]) / k
    for f in ("config.yaml", "last.pt", "model.safetensors", "loss.png", "done.json", "train.log"):
        assert (res.run_dir / f).is_file(), f
    assert list((res.run_dir / "samples").glob("*.png"))
    assert list((res.run_dir / "tb").iterdir())


def test_checkpoint_round_trip(npz2d, tmp_path):
    res = train_diffusion(cfg_for(npz2d, tmp_path, "r", "train.steps=3", "train.batch_size=4"))
    raw = torch.load(res.run_dir / "last.pt", map_location="cpu", weights_only=True)
    assert raw["step"] == 3 and isinstance(raw["config"], dict) and raw["backbone"]["arch"] == "unet"
    model, _ = load_backbone(res.run_dir / "last.pt")
    st, _ = load_backbone(res.run_dir / "model.safetensors")
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([1, 30])
    with torch.no_grad():
        assert torch.equal(model(x, t), st(x, t))
    for k, v in model.state_dict().items():
        assert torch.equal(v, raw["ema"][k])
    assert any(not torch.equal(raw["ema"][k], raw["model"][k]) for k in raw["model"])  # EMA is not the raw model


def test_resume_matches_uninterrupted_run(npz2d, tmp_path):
    common = ("train.steps=8", "train.batch_size=4", "train.grad_accum=2", "train.ckpt_every=3", "train.log_every=1",
              "train.lr=2e-3")
    full = train_diffusion(cfg_for(npz2d, tmp_path, "full", *common))
    cfg = cfg_for(npz2d, tmp_path, "cut", *common)
    part = train_diffusion(cfg, stop_after=5)  # "killed" after step 5; last checkpoint at step 3
    assert part.step == 5 and not (part.run_dir / "done.json").exists()
    assert load_checkpoint(part.run_dir / "last.pt")["step"] == 3
    resumed = train_diffusion(cfg)
    assert resumed.resumed_from == 3
    a, b = losses(full.run_dir), losses(resumed.run_dir)
    assert list(a) == list(range(1, 9)) and set(b) == set(a)
    for s in a:
        assert b[s] == pytest.approx(a[s], rel=1e-6, abs=1e-7), s
    m1, _ = load_backbone(full.run_dir / "last.pt")
    m2, _ = load_backbone(resumed.run_dir / "last.pt")
    for (k, v1), v2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.allclose(v1, v2, atol=1e-6), k


def test_resume_with_other_config_is_refused(npz2d, tmp_path):
    train_diffusion(cfg_for(npz2d, tmp_path, "r", "train.steps=2", "train.batch_size=4"))
    with pytest.raises(RuntimeError, match="different config.*train.lr"):
        train_diffusion(cfg_for(npz2d, tmp_path, "r", "train.steps=4", "train.batch_size=4", "train.lr=0.5"))


def test_resume_of_a_run_started_before_a_key_existed():
    """A key added to medfx after a run started is compared against its default, not refused as a change."""
    from medfx.config import ExperimentConfig
    from medfx.train.loop import _check_resume
    from medfx.utils.dataclass_io import to_dict

    default = to_dict(ExperimentConfig())
    old = to_dict(ExperimentConfig())
    del old["contrastive"]["mse_reduction"]  # the stored config of a run from before the key existed
    _check_resume(old, to_dict(ExperimentConfig()), Path("r"), default=default)  # default value: resumes
    changed = to_dict(ExperimentConfig())
    changed["contrastive"]["mse_reduction"] = "sum"
    with pytest.raises(RuntimeError, match=r"contrastive.mse_reduction: 'mean' there, 'sum' now"):
        _check_resume(old, changed, Path("r"), default=default)


def test_finetune_from_checkpoint_and_monai_state_dict(npz2d, tmp_path):
    pre = train_diffusion(cfg_for(npz2d, tmp_path, "pre", "train.steps=2", "train.batch_size=4"))
    ft = train_diffusion(cfg_for(npz2d, tmp_path, "ft", "train.steps=1", "train.batch_size=4", "train.lr=1e-12",
                                 "train.ema_decay=0.0"), init_from=pre.run_dir / "last.pt")
    a, _ = load_backbone(pre.run_dir / "last.pt")
    b, _ = load_backbone(ft.run_dir / "last.pt", ema=False)
    for k, v in a.state_dict().items():
        assert torch.allclose(v, b.state_dict()[k], atol=1e-6)
    # a plain MONAI DiffusionModelUNet state dict (e.g. from MONAI Generative) loads into the same architecture
    sd_path = tmp_path / "monai_unet.pt"
    torch.save(a.net.state_dict(), sd_path)
    ft2 = train_diffusion(cfg_for(npz2d, tmp_path, "ft2", "train.steps=1", "train.batch_size=4"), init_from=sd_path)
    assert (ft2.run_dir / "done.json").exists()


def test_finetune_refuses_other_architecture(npz2d, tmp_path):
    pre = train_diffusion(cfg_for(npz2d, tmp_path, "pre", "train.steps=1", "train.batch_size=4"))
    cfg = cfg_for(npz2d, tmp_path, "ft", "train.steps=1", "model.unet.channels=[16,16]")
    with pytest.raises(CheckpointError, match="last.pt.*architecture"):
        train_diffusion(cfg, init_from=pre.run_dir / "last.pt")
    assert not (tmp_path / "ft").exists()


def test_safetensors_export_reloads(tmp_path):
    from medfx.config import ModelConfig
    from medfx.models import DiffusionUNet, UNetConfig, resolve_backbone_spec

    spec = resolve_backbone_spec(ModelConfig(unet=UNetConfig(channels=(8, 16), attention_levels=(False, True),
                                                             num_head_channels=(8,), norm_num_groups=8)),
                                 (1, 16, 16), None)
    from medfx.models import build_backbone

    m = build_backbone(spec)
    save_safetensors(tmp_path / "w.safetensors", m.state_dict(), spec, {}, 7)
    m2, ck = load_backbone(tmp_path / "w.safetensors")
    assert ck["step"] == 7 and isinstance(m2, DiffusionUNet)


@pytest.mark.slow
def test_torchrun_two_processes(npz2d, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517", "-m", "medfx",
           "pretrain", f"data.path={npz2d}", f"run.out_dir={tmp_path}", "run.name=ddp", *TINY_UNET,
           "train.steps=3", "train.batch_size=4", "train.ckpt_every=3", "train.log_every=1"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    run = tmp_path / "ddp"
    assert (run / "done.json").exists() and load_checkpoint(run / "last.pt")["step"] == 3
    assert len(losses(run)) == 3  # rank 0 logs once per step


def test_run_stopped_after_its_last_checkpoint_finishes_on_resume(npz2d, tmp_path):
    """Killed between the final checkpoint and done.json: the rerun trains nothing and writes the missing records."""
    cfg = cfg_for(npz2d, tmp_path, "r", "train.steps=4", "train.batch_size=4", "train.ckpt_every=2",
                  "train.log_every=1")
    first = train_diffusion(cfg)
    logged = losses(first.run_dir)[4]
    (first.run_dir / "done.json").unlink()
    (first.run_dir / "loss.png").unlink()
    before = load_checkpoint(first.run_dir / "last.pt")["model"]
    again = train_diffusion(cfg)
    assert again.step == 4 and again.resumed_from == 4 and again.final_loss == pytest.approx(logged)
    done = json.loads((first.run_dir / "done.json").read_text())
    assert done["steps"] == 4 and done["final_loss"] == pytest.approx(logged) and done["host"]
    assert (first.run_dir / "loss.png").is_file()
    after = load_checkpoint(first.run_dir / "last.pt")["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing was trained again


def test_lowering_steps_to_a_saved_checkpoint_drops_the_lost_steps_rows(npz2d, tmp_path):
    """Killed at step 3 (checkpoint at 2), resumed with train.steps=2: finished at 2, no row of the lost step 3."""
    common = ("train.batch_size=4", "train.ckpt_every=2", "train.log_every=1")
    part = train_diffusion(cfg_for(npz2d, tmp_path, "r", "train.steps=4", *common), stop_after=3)
    assert list(losses(part.run_dir)) == [1, 2, 3] and not (part.run_dir / "done.json").exists()
    at2 = losses(part.run_dir)[2]
    again = train_diffusion(cfg_for(npz2d, tmp_path, "r", "train.steps=2", *common))
    assert again.step == 2 and again.final_loss == pytest.approx(at2)
    assert list(losses(part.run_dir)) == [1, 2]
    done = json.loads((part.run_dir / "done.json").read_text())
    assert done["steps"] == 2 and done["final_loss"] == pytest.approx(at2)
