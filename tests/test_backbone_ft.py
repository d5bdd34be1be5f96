"""backbone_ft: the diffusion backbone fine-tuned end to end as a classifier (medfx.heads.finetune)."""

import json

import numpy as np
import pytest
import torch
from conftest import TINY_UNET, make_npz

from medfx.config import load_config
from medfx.diffusion.schedule import DiffusionConfig
from medfx.heads.finetune import BackboneClassifier
from medfx.heads.trainer import ClassifierData, HeadTrainConfig, fit_classifier, predict_proba
from medfx.models.unet import DiffusionUNet, UNetConfig
from medfx.utils.dataclass_io import ConfigError
from medfx.workflows.pipeline import run_pipeline


def _unet(spatial_dims=2):
    torch.manual_seed(0)
    return DiffusionUNet(UNetConfig(spatial_dims=spatial_dims, channels=(8, 16), attention_levels=(False, True),
                                    num_head_channels=(8,), norm_num_groups=8)).eval()


DIFF = DiffusionConfig(num_train_timesteps=50)


def test_eval_input_is_the_forward_process_with_one_fixed_noise_draw():
    """In evaluation every image gets x_t = sqrt(abar_t) x + sqrt(1 - abar_t) eps_0 with the same eps_0 (MONAI's
    DDPMScheduler.add_noise as the reference), so a prediction does not depend on the batch it is in."""
    from monai.networks.schedulers import DDPMScheduler

    unet = _unet()
    clf = BackboneClassifier(unet, "mid", 20, 2, DIFF, (1, 16, 16)).eval()
    x = torch.randn(5, 1, 16, 16)
    ref_x = DDPMScheduler(num_train_timesteps=50).add_noise(x, clf.eval_noise.expand_as(x), torch.full((5,), 20))
    t = torch.full((5,), 20)
    m = unet.forward_blocks(ref_x, t, ["mid"])["mid"].mean(dim=(2, 3))
    with torch.no_grad():
        want = clf.fc(clf.norm(m))
        got = clf(x)
        assert torch.allclose(got, want, atol=1e-5)
        assert torch.allclose(clf(x[2:4]), got[2:4], atol=1e-5)  # batch-independent
    again = BackboneClassifier(unet, "mid", 20, 2, DIFF, (1, 16, 16), noise_seed=1)
    assert not torch.equal(again.eval_noise, clf.eval_noise)
    clf.train()
    with torch.no_grad():
        assert not torch.allclose(clf(x), clf(x))  # training draws fresh noise every call


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_only_the_weights_up_to_the_block_train(spatial_dims):
    """Parameters the pass up to the block never touches (later blocks, the output conv) are frozen; the
    argument backbone is not modified."""
    unet = _unet(spatial_dims)
    shape = (1,) + (16,) * spatial_dims
    before = {n: p.detach().clone() for n, p in unet.state_dict().items()}
    early = BackboneClassifier(unet, "down.0", 0, 3, DIFF, shape)
    late = BackboneClassifier(unet, "up.0", 0, 3, DIFF, shape)
    names = {n for n, p in early.backbone.named_parameters() if p.requires_grad}
    assert names and all("up" not in n and "out" not in n and "middle" not in n for n in names)
    n_early = sum(p.numel() for p in early.parameters() if p.requires_grad)
    n_late = sum(p.numel() for p in late.parameters() if p.requires_grad)
    assert n_early < n_late < sum(p.numel() for p in late.parameters())
    assert all(torch.equal(before[n], p) for n, p in unet.state_dict().items())
    assert all(p.requires_grad for p in unet.parameters())
    with pytest.raises(ValueError, match="outside"):
        BackboneClassifier(unet, "mid", 50, 2, DIFF, shape)


def _toy(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 1, 16, 16, generator=g) * 0.3
    x[:, :, 4:12, 4:12] += (2 * y.float() - 1)[:, None, None, None]  # a bright or dark centre
    return ClassifierData(labels=y, images=x)


@pytest.mark.parametrize("scale", [0.0, 0.1])
def test_backbone_learning_rate_scale(scale):
    """ft_lr_scale=0 leaves the backbone untouched (only the new layers train); > 0 moves it, and the fit
    learns the toy task."""
    unet = _unet()
    clf = BackboneClassifier(unet, "mid", 5, 2, DIFF, (1, 16, 16), backbone_lr_scale=scale)
    ref = {n: p.detach().clone() for n, p in clf.backbone.named_parameters()}
    groups = clf.param_groups(1e-2)
    assert [g["lr"] for g in groups] == ([1e-2] if scale == 0 else [1e-3, 1e-2])
    cfg = HeadTrainConfig(epochs=15, batch_size=8, lr=1e-2, seed=0, patience=0, ema_decay=0, select_metric="auc")
    fit = fit_classifier(clf, _toy(32, 0), _toy(16, 1), cfg)
    moved = [not torch.equal(ref[n], p) for n, p in fit.model.backbone.named_parameters()]
    assert any(moved) == (scale > 0)
    assert fit.num_trainable < fit.num_params
    p = predict_proba(fit.model, _toy(40, 2))
    assert ((p[:, 1] > 0.5) == (np.arange(40) % 2 == 1)).mean() >= 0.9


def test_config():
    assert load_config(None, []).heads.ft_lr_scale == 1.0
    with pytest.raises(ConfigError, match="ft_lr_scale"):
        load_config(None, ["heads.ft_lr_scale=-1"])
    with pytest.raises(ConfigError, match="ablation"):
        load_config(None, ["heads.methods=['backbone_ft']"])  # needs heads.label_budgets


def test_budget_run_fine_tunes_from_the_probe_grids_best_cell(tmp_path):
    """Under label budgets backbone_ft starts from the run's DDPM at the (block, t) the cell's probe grid chose
    on validation, and writes its cell like every trained method."""
    data = make_npz(tmp_path / "toy.npz", n=(24, 12, 8))
    cfg = load_config(None, [f"data.path={data}", f"run.out_dir={tmp_path}", "run.name=ft", *TINY_UNET,
                             "train.steps=2", "train.batch_size=4", "features.timesteps=[0,20]",
                             "features.blocks=['mid','up.0']", "gaussianity.top_k=1", "heads.baseline_epochs=1",
                             "heads.seeds=[0]", "heads.patience=0", "heads.methods=['linear_best','backbone_ft']",
                             "heads.label_budgets=[2]", "heads.val_min_per_class=3", "heads.budget_min_steps=2",
                             "pipeline.stages=['pretrain','extract','probe','gaussianity','heads']"])
    run = run_pipeline(cfg, progress=False)
    cell = run / "budgets" / "b2" / "seed0"
    grid = json.loads((cell / "probe_grid.json").read_text())
    best = json.loads((cell / "linear_best" / "metrics.json").read_text())["input"]
    ft = json.loads((cell / "backbone_ft" / "metrics.json").read_text())
    assert ft["input"] == best and grid
    assert 0 < ft["params"] and ft["auc"] is not None
    assert (cell / "backbone_ft" / "predictions.csv").read_text().count("\n") == 1 + 6 + 8  # val subset + test
