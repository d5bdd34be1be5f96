"""Config sections of ``medfx run``: ``pipeline`` (what runs) and ``heads`` (classifiers and baselines)."""

from __future__ import annotations

from dataclasses import dataclass

STAGES = ("pretrain", "finetune", "extract", "probe", "gaussianity", "heads", "report")
METHODS = ("linear_best", "cats", "dcube", "small_cnn", "resnet18", "resnet50", "linear_ks", "dcube_feats",
           "dcube_cnn")
# ablations, available with heads.label_budgets: linear_ks = one probe on the concatenated KS-selected keys,
# dcube_feats = D-Cube without its image CNN, dcube_cnn = D-Cube's image CNN branch alone (D-Cube's trainer)
BUDGET_ONLY_METHODS = ("linear_ks", "dcube_feats", "dcube_cnn")


@dataclass
class PipelineConfig:
    checkpoint: str | None = None  # use this diffusion checkpoint instead of pretraining one
    pretrain_data: str | tuple[str, ...] | None = None  # unlabelled pool: one or more datasets whose images are
    # ALL used (every split, labels ignored) to pretrain the DDPM; default: the training split of data.path
    pool_overlap: str = "drop"  # pool images identical / nearly identical to a target val or test image:
    # drop (remove them, logged and counted), error, or warn
    pool_warn_below: int = 2000  # warn when the DDPM's unlabelled pool has fewer images (provisional, README)
    finetune_steps: int = 0  # > 0: fine-tune the DDPM on the training split of data.path for this many steps
    stages: tuple[str, ...] = STAGES  # stages to run, in this order; finished stages are skipped

    def __post_init__(self):
        bad = [s for s in self.stages if s not in STAGES]
        if bad:
            raise ValueError(f"unknown stage {bad[0]!r}; valid stages: {', '.join(STAGES)}")
        if self.finetune_steps < 0:
            raise ValueError("finetune_steps must be >= 0")
        if isinstance(self.pretrain_data, tuple) and not self.pretrain_data:
            raise ValueError("pretrain_data: an empty list; give one or more datasets or leave it unset")
        if self.pool_overlap not in ("drop", "error", "warn"):
            raise ValueError(f"pool_overlap must be drop, error or warn, got {self.pool_overlap!r}")

    @property
    def pool_paths(self) -> tuple[str, ...]:
        """``pretrain_data`` as a tuple of dataset paths (empty when unset)."""
        if self.pretrain_data is None:
            return ()
        return (self.pretrain_data,) if isinstance(self.pretrain_data, str) else tuple(self.pretrain_data)


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
    batch_size: int = 64
    lr: float = 1e-3  # feature heads
    baseline_lr: float = 1e-3  # CNN baselines (Adam-style lr of MedMNIST)
    weight_decay: float = 0.03
    ema_decay: float = 0.999  # EMA weights are the ones evaluated and saved
    patience: int = 8  # early stopping on validation
    select_metric: str = "auc"  # validation metric used for epoch selection
    augment_flip: bool = False  # random flips along the last axis during training
    synthetic_balance: float | None = None  # with a class-conditional DDPM: add synthetic training images so every
    # class reaches this fraction of the largest class, and retrain synthetic_methods on real + synthetic data
    synthetic_methods: tuple[str, ...] = ("small_cnn", "resnet18")  # baselines retrained on real + synthetic
    synthetic_steps: int = 50  # DDIM steps for the synthetic images
    label_budgets: tuple[int | str, ...] = ()  # labels per class in the training split, e.g. [5, 10, 25, all]:
    # every method runs for every budget and seed on seeded, stratified, nested subsets (medfx.data.budgets)
    val_budget: str = "budget"  # validation under a budget: "budget" (same per-class budget from the val split,
    # at least val_min_per_class) or "full" (the whole validation split)
    val_min_per_class: int = 5
    budget_min_steps: int = 300  # under a budget every trained method gets at least this many optimisation
    # steps (epochs and patience are scaled up for tiny training sets; evaluation every epoch on validation)
    budget_augment: bool = True  # under a budget the image CNNs (baselines, D-Cube's branch) train with random
    # flips and +-2 px shifts

    def __post_init__(self):
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
        from ..data.budgets import VAL_RULES, parse_budgets

        self.label_budgets = tuple(parse_budgets(self.label_budgets))
        if self.val_budget not in VAL_RULES:
            raise ValueError(f"val_budget must be one of {VAL_RULES}, got {self.val_budget!r}")
        if self.val_min_per_class < 1:
            raise ValueError("val_min_per_class must be >= 1")
        if self.budget_min_steps < 0:
            raise ValueError("budget_min_steps must be >= 0")
        ablations = [m for m in self.methods if m in BUDGET_ONLY_METHODS]
        if ablations and not self.label_budgets:
            raise ValueError(f"method {ablations[0]!r} is an ablation of the label-budget harness; set "
                             "heads.label_budgets (e.g. [all]) to run it")
