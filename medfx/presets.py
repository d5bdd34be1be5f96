"""Named presets: partial experiment configs (plain dicts) that a YAML file or ``preset=NAME`` starts from.

Sizes are chosen for the measured throughput of a 2-core CPU (MONAI U-Net, bf16 autocast): ~170 img/s at
28^2 for the 1.1M-parameter ``cpu-28`` U-Net, ~15-30 img/s at 64^2, ~2-5 img/s at 28^3. ``paper-3d`` is the
3D DDPM configuration of the CATS authors' public code (UK Biobank T1 MRI, 160x224x160); it needs a GPU.
"""

from __future__ import annotations

from .utils.dataclass_io import ConfigError, _hint

_UNET_SMALL = dict(channels=[32, 64, 64], attention_levels=[False, False, True], num_res_blocks=1,
                   num_head_channels=[32], norm_num_groups=32)

PRESETS: dict[str, dict] = {
    # seconds on a CPU: used by the tests
    "tiny": dict(
        data=dict(path="builtin:pneumoniamnist", size=[16, 16], max_per_split=64),
        model=dict(unet=dict(channels=[8, 16], attention_levels=[False, True], num_res_blocks=1,
                             num_head_channels=[8], norm_num_groups=8),
                   uvit=dict(patch_size=4, embed_dim=32, depth=5, num_heads=2)),
        diffusion=dict(num_train_timesteps=100),
        train=dict(steps=20, batch_size=8, lr=1e-3, ckpt_every=10, log_every=5, num_samples=4, sample_steps=5),
        features=dict(timesteps=[0, 10, 50], batch_size=64),  # below diffusion.num_train_timesteps=100
        gaussianity=dict(top_k=2),
        heads=dict(seeds=[0], epochs=2, baseline_epochs=1, patience=0, batch_size=32, grid=2, cats_inputs=2,
                   cats_width=16, dcube_fuse=8, dcube_widen=0.25),
    ),
    "tiny-3d": dict(
        data=dict(path="builtin:adrenalmnist3d", size=[16, 16, 16], max_per_split=32),
        model=dict(unet=dict(channels=[8, 16], attention_levels=[False, True], num_res_blocks=1,
                             num_head_channels=[8], norm_num_groups=8),
                   uvit=dict(patch_size=4, embed_dim=32, depth=5, num_heads=2)),
        diffusion=dict(num_train_timesteps=100),
        train=dict(steps=10, batch_size=4, lr=1e-3, ckpt_every=5, log_every=5, num_samples=2, sample_steps=5),
        features=dict(timesteps=[0, 10, 50], batch_size=16),  # below diffusion.num_train_timesteps=100
        gaussianity=dict(top_k=2),
        heads=dict(seeds=[0], epochs=2, baseline_epochs=1, patience=0, batch_size=16, grid=2, cats_inputs=2,
                   cats_width=16, dcube_fuse=8, dcube_widen=0.25),
    ),
    # the README demo (`medfx run preset=demo`): the whole pipeline on PneumoniaMNIST 28^2 (2000 training
    # images), in under 10 minutes on 2 CPU cores
    "demo": dict(
        run=dict(name="demo"),
        data=dict(path="builtin:pneumoniamnist", max_per_split=2000),
        model=dict(unet=_UNET_SMALL),
        train=dict(steps=300, batch_size=32, lr=1e-3, ckpt_every=100, log_every=10, sample_every=150,
                   num_samples=16, sample_steps=25),
        features=dict(timesteps=[0, 10, 50, 200]),
        heads=dict(epochs=5, baseline_epochs=3, patience=3, batch_size=64, dcube_widen=0.25, cats_width=64),
    ),
    # CPU-sized 2D, 28^2 (PneumoniaMNIST); 1.1M parameters
    "cpu-28": dict(
        data=dict(path="builtin:pneumoniamnist"),
        model=dict(unet=_UNET_SMALL),
        train=dict(steps=4000, batch_size=64, lr=1e-3, ckpt_every=500, log_every=20, sample_every=1000),
    ),
    # CPU-sized 2D, 64^2 (e.g. brain MRI slices)
    "cpu-64": dict(
        data=dict(size=[64, 64]),
        model=dict(unet=dict(channels=[32, 64, 64, 128], attention_levels=[False, False, False, True],
                             num_res_blocks=1, num_head_channels=[32], norm_num_groups=32)),
        train=dict(steps=3000, batch_size=32, lr=5e-4, ckpt_every=250, log_every=10, sample_every=1000),
    ),
    # CPU-sized 3D, 28^3 (AdrenalMNIST3D)
    "cpu-3d-28": dict(
        data=dict(path="builtin:adrenalmnist3d"),
        model=dict(unet=dict(spatial_dims=3, channels=[16, 32, 64], attention_levels=[False, False, True],
                             num_res_blocks=1, num_head_channels=[32], norm_num_groups=16)),
        train=dict(steps=1500, batch_size=16, lr=5e-4, ckpt_every=250, log_every=10, sample_every=500),
    ),
    # the CATS authors' 3D DDPM (xiaovhua/tenvoo): UK Biobank T1, 160x224x160, 166.7M parameters. GPU only.
    "paper-3d": dict(
        data=dict(size=[160, 224, 160], resize_mode="crop_pad", intensity_range=[0.0, 1.0], orientation="RAS"),
        model=dict(unet=dict(spatial_dims=3, channels=[32, 32, 64, 128, 256, 512],
                             attention_levels=[False, False, False, False, True, True], num_res_blocks=2,
                             num_head_channels=[0, 0, 0, 0, 256, 512], norm_num_groups=32, norm_eps=1e-6)),
        diffusion=dict(num_train_timesteps=1000, schedule="scaled_linear_beta", beta_start=0.0005, beta_end=0.0195),
        train=dict(steps=150000, batch_size=4, grad_accum=4, lr=5e-5, precision="auto", ckpt_every=1000,
                   log_every=50, sample_every=5000, num_samples=2, sample_steps=50),
        # one fp32 extraction pass of every block peaks at ~7 GiB per 160x224x160 volume (`medfx plan`):
        # batch 4 fits a 40 GB GPU
        features=dict(batch_size=4),
    ),
    # latent diffusion at the paper-3d size (GPU): an AutoencoderKL with the architecture of MONAI's model-zoo brain
    # LDM bundle (UK Biobank; 160x224x160 -> 3 x 20x28x20 latents; train it here, or load the bundle's
    # models/autoencoder.pt with latent.autoencoder=PATH latent.sha256=HASH) and the bundle's latent U-Net
    # (256, 512, 768), unconditional. L1 + KL only (no perceptual / adversarial terms).
    "paper-3d-latent": dict(
        data=dict(size=[160, 224, 160], resize_mode="crop_pad", intensity_range=[0.0, 1.0], orientation="RAS"),
        latent=dict(enabled=True, latent_channels=3, channels=[64, 128, 128, 128],
                    attention_levels=[False, False, False, False], num_res_blocks=2, norm_num_groups=32,
                    nonlocal_attn=False, steps=20000, batch_size=2, lr=1e-4, kl_weight=1e-6,
                    checkpointing=True),  # `medfx plan`: ~49 GiB per AE step of 2 volumes (121 GiB without)
        model=dict(unet=dict(spatial_dims=3, channels=[256, 512, 768], attention_levels=[False, True, True],
                             num_res_blocks=2, num_head_channels=[0, 512, 768], norm_num_groups=32, norm_eps=1e-6,
                             resblock_updown=True)),
        diffusion=dict(num_train_timesteps=1000, schedule="scaled_linear_beta", beta_start=0.0015, beta_end=0.0205),
        train=dict(steps=100000, batch_size=16, lr=2.5e-5, precision="auto", ckpt_every=1000, log_every=50,
                   sample_every=5000, num_samples=2, sample_steps=50),
        features=dict(batch_size=8),  # encoding 8 volumes peaks at ~33 GiB (fp32); the latent U-Net needs far less
    ),
    # D-Cube scale U-ViT (128^2, patch 8, width 512, 13 blocks, 8 heads), class-conditional + contrastive
    "dcube-128": dict(
        data=dict(size=[128, 128]),
        model=dict(arch="uvit", conditional=True,
                   uvit=dict(patch_size=8, embed_dim=512, depth=13, num_heads=8, qkv_bias=False)),
        contrastive=dict(weight=1.0, block="mid"),
        train=dict(steps=50000, batch_size=64, lr=2e-4, weight_decay=0.03, ckpt_every=1000, sample_every=5000),
    ),
    # D-Cube as published (ICDM 2024; methods notes section 2): the dcube-128 U-ViT with D-Cube's step-1 loss and
    # every step-2 setting of the paper / public code. See README "Reproducing the papers" for each element.
    "dcube-paper": dict(
        data=dict(size=[128, 128]),
        model=dict(arch="uvit", conditional=True,
                   uvit=dict(patch_size=8, embed_dim=512, depth=13, num_heads=8, qkv_bias=False)),
        diffusion=dict(class_dropout=0.0),  # D-Cube trains without label dropout (no classifier-free guidance)
        # squared L2 summed over the mid tokens, margin 0.1, and the noise MSE summed over pixels (D-Cube's weighting)
        contrastive=dict(weight=1.0, block="mid", distance="sum_sq", margin=0.1, mse_reduction="sum"),
        train=dict(steps=50000, batch_size=64, lr=2e-4, weight_decay=0.01, ckpt_every=1000, sample_every=5000),
        # step 2 reads the clean image at a random t per sample (one seeded draw per image: a bank of K=1 draws)
        features=dict(clean=True, random_t=True, timesteps=[0]),
        heads=dict(grid=16, dcube_fusion="tokens", dcube_resnet="resnet50", dcube_imagenet_stem=True,
                   dcube_flip_features=True, augment_flip=True, lr=2e-4, weight_decay=0.03, batch_size=64,
                   epochs=70, dcube_weights=[1.0, 10.0, 0.1]),
    ),
}


def list_presets() -> list[str]:
    return sorted(PRESETS)


def preset_dict(name: str) -> dict:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}{_hint(name, list_presets())}")
    import copy

    return copy.deepcopy(PRESETS[name])
