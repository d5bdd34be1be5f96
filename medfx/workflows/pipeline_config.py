"""Config sections of ``medfx run``: ``pipeline`` (what runs) and ``heads`` (classifiers and baselines)."""

from __future__ import annotations

from dataclasses import dataclass

STAGES = ("pretrain", "finetune", "extract", "probe", "gaussianity", "heads", "report")
METHODS = ("linear_best", "cats", "dcube", "small_cnn", "resnet18", "resnet50")


@dataclass
class PipelineConfig:
    checkpoint: str | None = None  # use this diffusion checkpoint instead of pretraining one
    pretrain_data: str | None = None  # images for pretraining (default: the training split of data.path)
    finetune_steps: int = 0  # > 0: fine-tune the DDPM on the training split of data.path for this many steps
    stages: tuple[str, ...] = STAGES  # stages to run, in this order; finished stages are skipped
    tensorboard: bool = True  # <run>/tb: DDPM samples, probe grid, KS map, head curves, results, hparams
    mlflow: bool = False  # also log params, metrics and artifacts to MLflow (pip install medfx[mlflow])
    mlflow_uri: str | None = None  # MLflow tracking URI (default: MLFLOW_TRACKING_URI, else <run>/mlruns)
    mlflow_experiment: str = "medfx"  # MLflow experiment name; the MLflow run is named after run.name

    def __post_init__(self):
        bad = [s for s in self.stages if s not in STAGES]
        if bad:
            raise ValueError(f"unknown stage {bad[0]!r}; valid stages: {', '.join(STAGES)}")
        if self.finetune_steps < 0:
            raise ValueError("finetune_steps must be >= 0")


@dataclass
class HeadsConfig:
    methods: tuple[str, ...] = ("linear_best", "cats", "dcube", "small_cnn", "resnet18")  # classifiers compared
    seeds: tuple[int, ...] = (0, 1, 2)  # every trained method runs once per seed; mean and sd are reported
    grid: int = 4  # feature maps for the heads are adaptive-average-pooled to grid^d cells
    cats_inputs: int = 3  # CATS reads the top-k (block, t) of the probe grid by validation AUC
    cats_width: int = 128  # CATS token width
    cats_depth: int = 2  # CATS transformer layers
    dcube_resnet: str = "resnet18"  # D-Cube sub-feature CNN (MONAI, random init)
    dcube_fuse: int = 64  # D-Cube fused channels
    dcube_widen: float = 1.0  # MONAI widen_factor of the D-Cube CNN (< 1 = thinner, cheaper; useful in 3D on CPU)
    dcube_pretrained: str | None = None  # local ImageNet-style state dict for the D-Cube CNN (never downloaded)
    dcube_weights: tuple[float, ...] = (1.0, 10.0, 0.1)  # (cross-entropy, cycle, flip-consistency)
    epochs: int = 30  # maximum epochs of the feature heads
    baseline_epochs: int = 30  # maximum epochs of the CNN baselines
    batch_size: int = 64  # heads and baselines: images (or feature maps) per optimizer step
    lr: float = 1e-3  # feature heads
    baseline_lr: float = 1e-3  # CNN baselines (Adam-style lr of MedMNIST)
    weight_decay: float = 0.03  # AdamW weight decay of heads and baselines
    ema_decay: float = 0.999  # EMA weights are the ones evaluated and saved
    patience: int = 8  # early stopping on validation
    select_metric: str = "auc"  # validation metric used for epoch selection
    augment_flip: bool = False  # random flips along the last axis during training
    synthetic_balance: float | None = None  # with a class-conditional DDPM: add synthetic training images so every
    # class reaches this fraction of the largest class, and retrain synthetic_methods on real + synthetic data
    synthetic_methods: tuple[str, ...] = ("small_cnn", "resnet18")  # baselines retrained on real + synthetic
    synthetic_steps: int = 50  # DDIM steps for the synthetic images
    precision: str = "fp32"  # training steps of heads and baselines: fp32, bf16, fp16 (CUDA) or auto (measured)

    def __post_init__(self):
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {self.precision!r}")
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise ValueError(f"unknown method {bad[0]!r}; valid methods: {', '.join(METHODS)}")
        if not self.seeds:
            raise ValueError("seeds must not be empty")
        bad = [m for m in self.synthetic_methods if m not in ("small_cnn", "resnet18", "resnet50")]
        if bad:
            raise ValueError(f"synthetic_methods: {bad[0]!r} is not a CNN baseline (small_cnn, resnet18, resnet50)")
        if self.synthetic_balance is not None and not 0 < self.synthetic_balance <= 1:
            raise ValueError("synthetic_balance must be in (0, 1]")
        if len(self.dcube_weights) != 3:
            raise ValueError("dcube_weights must be (ce, cycle, flip)")
