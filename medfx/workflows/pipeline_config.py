"""Config sections of ``medfx run``: ``pipeline`` (what runs) and ``heads`` (classifiers and baselines)."""

from __future__ import annotations

from dataclasses import dataclass

from ..data.budgets import VAL_RULES, parse_budgets

STAGES = ("pretrain", "finetune", "extract", "probe", "gaussianity", "heads", "report")
METHODS = ("linear_best", "cats", "dcube", "small_cnn", "resnet18", "resnet50", "linear_ks", "dcube_feats",
           "dcube_cnn", "linear_topk", "backbone_ft", "fused")
# ablations, available with heads.label_budgets: linear_ks = one probe on the concatenated KS-selected keys,
# dcube_feats = D-Cube without its image CNN, dcube_cnn = D-Cube's image CNN branch alone (D-Cube's trainer),
# linear_topk = the average of the probes of the heads.probe_topk best (block, t) cells by validation AUC,
# backbone_ft = the diffusion backbone fine-tuned end to end from the best (block, t) (medfx.heads.finetune),
# fused = late fusion: the class probabilities of the heads.fuse_methods cells of the same budget and seed averaged
BUDGET_ONLY_METHODS = ("linear_ks", "dcube_feats", "dcube_cnn", "linear_topk", "backbone_ft", "fused")
DECISIONS = ("argmax", "val_threshold")


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
    tensorboard: bool = True  # live TensorBoard: ddpm/tb, <run>/tb/{probe,gaussianity,heads/<method>/seed<k>}
    mlflow: bool = False  # also log params, metrics and artifacts to MLflow (pip install medfx[mlflow])
    mlflow_uri: str | None = None  # MLflow tracking URI (default: MLFLOW_TRACKING_URI, else <run>/mlruns)
    mlflow_experiment: str = "medfx"  # MLflow experiment name; the MLflow run is named after run.name

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
    probe_topk: int = 5  # linear_topk (label budgets): average the class probabilities of the probes of the top-k
    # (block, t) cells by validation AUC (each refitted with its own C); 1 = linear_best
    fuse_methods: tuple[str, ...] = ("linear_topk", "small_cnn")  # fused (label budgets): these methods' class
    # probabilities of the same budget and seed averaged with equal weights (each must be in heads.methods)
    cats_width: int = 128  # CATS token width
    cats_depth: int = 2  # CATS transformer layers
    cats_preset: str | None = None  # "paper": the MRI paper's 1.7M-parameter budget (medfx.heads.paper3d_cats_config):
    # width 184, depth 2, 4 attention heads, 4^d pooled tokens, 9 inputs = the top-3 blocks by validation AUC, each at
    # its top-3 timesteps (1,690,435 parameters on paper-3d's 512-channel blocks, K=2)
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
    ft_lr_scale: float = 1.0  # backbone_ft: the backbone's learning rate is baseline_lr times this (its new layer
    # norm and linear layer get baseline_lr); 0 freezes the backbone (a linear probe trained by the harness). 1.0
    # beat 0.1 on training data (hidden labels; BENCHMARKS "Issue 13: thirty-eighth session")
    weight_decay: float = 0.03  # AdamW weight decay of heads and baselines
    ema_decay: float = 0.999  # EMA weights are the ones evaluated and saved (target decay, see ema_warmup)
    ema_warmup: bool = True  # warm-up min(ema_decay, (1+s)/(10+s)): the decay is ~0.96 after 250 steps and reaches
    # 0.999 only after ~9,000 steps, so short head runs average their last ~25-70 steps; false = ema_decay throughout
    patience: int = 8  # early stopping on validation
    select_metric: str = "auc"  # validation metric used for epoch selection
    augment_flip: bool = False  # random flips (p = 0.5 per sample) along heads.flip_axis during training
    flip_axis: str = "auto"  # axis of flips (augmentation and D-Cube consistency): "auto" = the last axis in 2D
    # (image width), in 3D the left-right axis named by data.orientation (e.g. axis 0 for RAS); or "0", "1", "2", "-1"
    dcube_fusion: str = "channels"  # "channels" (1x1 conv over channels) or "tokens" (D-Cube: token mixing)
    cats_norm: str = "batch"  # the CATS-like head's input normalisation: "batch" (per channel), "layer" or
    # "standard" (per-feature z-scores from the head's training rows; see heads.dcube_feature_norm)
    dcube_feature_norm: str = "layer"  # D-Cube's input normalisation: "layer" (D-Cube: LayerNorm over channels per
    # cell) or "standard" (per-feature z-scores from the head's training rows, as the linear probes; see README)
    dcube_imagenet_stem: bool = False  # 1->3 channel adapter + ImageNet-layout ResNet (stride-2 stem); with
    # dcube_pretrained every tensor must load
    dcube_flip_features: bool = False  # extract the features of the mirrored images too, so flip augmentation and
    # the consistency term pass the flip through the frozen backbone (D-Cube) instead of mirroring feature maps
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
    cv_folds: int = 0  # > 1: evaluate every method by stratified k-fold CV over train+val instead of on the test
    # split (mean and sd over folds in results["cv"]); probe C / best cell, CATS inputs, KS selection and head
    # epochs are all chosen inside the training folds (the MRI paper's small sets are evaluated this way)
    cv_val_fraction: float = 0.15  # inner validation share of the training folds (heads.cv_folds > 1)
    precision: str = "fp32"  # training steps of heads and baselines: fp32, bf16, fp16 (CUDA) or auto (measured)
    grad_accum: int = 1  # micro-batches per optimizer step: batch_size / grad_accum samples on the device at once,
    # the same update as the whole batch (except BatchNorm statistics, which see each micro-batch)
    in_memory: bool = False  # false: heads and baselines read grid features (memory-mapped bank) and images batch by
    # batch, so RAM does not grow with the dataset; true: load them all into RAM first (the same numbers; faster
    # epochs when images are decoded from files and fit in RAM)
    num_workers: int = 0  # DataLoader processes reading training / evaluation batches (0 = in the main process)
    decision: str = "argmax"  # binary tasks: "argmax" (class-1 probability >= 0.5) or "val_threshold" (the
    # threshold that maximises validation balanced accuracy, medfx.metrics.threshold; trained heads, baselines
    # and, under label budgets, the linear probes); AUC is unaffected

    def __post_init__(self):
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {self.decision!r}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {self.precision!r}")
        if self.grad_accum < 1 or self.batch_size % self.grad_accum:
            raise ValueError(f"grad_accum must be >= 1 and divide heads.batch_size {self.batch_size}, "
                             f"got {self.grad_accum}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")
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
        if self.flip_axis not in ("auto", "0", "1", "2", "-1"):
            raise ValueError(f"flip_axis must be auto, 0, 1, 2 or -1, got {self.flip_axis!r}")
        if self.dcube_fusion not in ("channels", "tokens"):
            raise ValueError(f"dcube_fusion must be channels or tokens, got {self.dcube_fusion!r}")
        if self.cats_norm not in ("batch", "layer", "standard"):
            raise ValueError(f"cats_norm must be batch, layer or standard, got {self.cats_norm!r}")
        if self.dcube_feature_norm not in ("layer", "standard"):
            raise ValueError(f"dcube_feature_norm must be layer or standard, got {self.dcube_feature_norm!r}")
        if self.cats_preset not in (None, "paper"):
            raise ValueError(f"cats_preset must be null or 'paper', got {self.cats_preset!r}")
        if self.cats_preset == "paper" and (self.cats_width, self.cats_depth, self.cats_inputs) != (128, 2, 3):
            raise ValueError("heads.cats_preset=paper fixes the CATS width (184), depth (2) and inputs (3 blocks x 3 "
                             f"t); drop heads.cats_width/cats_depth/cats_inputs (got {self.cats_width}, "
                             f"{self.cats_depth}, {self.cats_inputs})")
        if self.cv_folds == 1 or self.cv_folds < 0:
            raise ValueError(f"cv_folds must be 0 (holdout) or >= 2, got {self.cv_folds}")
        if not 0 < self.cv_val_fraction < 1:
            raise ValueError("cv_val_fraction must be in (0, 1)")
        if self.cv_folds and self.synthetic_balance is not None:
            raise ValueError("heads.cv_folds and heads.synthetic_balance cannot be combined (synthetic "
                             "rebalancing is evaluated on the test split only)")
        if len(self.dcube_weights) != 3:
            raise ValueError("dcube_weights must be (ce, cycle, flip)")
        if self.dcube_feature_norm == "standard" and (self.dcube_weights[2] or self.augment_flip):
            # per-feature statistics describe unmirrored maps: a mirrored map (flip augmentation, the flip term)
            # is far outside them wherever the features share a spatial layout (BENCHMARKS, thirty-third session)
            raise ValueError("dcube_feature_norm=standard needs unmirrored feature maps: set the flip weight of "
                             f"heads.dcube_weights to 0 (got {list(self.dcube_weights)}) and heads.augment_flip=false")

        self.label_budgets = tuple(parse_budgets(self.label_budgets))
        if self.val_budget not in VAL_RULES:
            raise ValueError(f"val_budget must be one of {VAL_RULES}, got {self.val_budget!r}")
        if self.val_min_per_class < 1:
            raise ValueError("val_min_per_class must be >= 1")
        if "fused" in self.methods:
            fm = self.fuse_methods
            if len(fm) < 2 or len(set(fm)) != len(fm) or "fused" in fm:
                raise ValueError(f"fuse_methods must name at least two different methods other than fused, got {list(fm)}")
            missing = [m for m in fm if m not in self.methods]
            if missing:
                raise ValueError(f"heads.methods has fused but not {missing[0]!r}, which heads.fuse_methods averages; "
                                 f"add it to heads.methods or change heads.fuse_methods (got {list(fm)})")
        if self.probe_topk < 1:
            raise ValueError(f"probe_topk must be >= 1, got {self.probe_topk}")
        if self.ft_lr_scale < 0:
            raise ValueError(f"ft_lr_scale must be >= 0, got {self.ft_lr_scale}")
        if self.budget_min_steps < 0:
            raise ValueError("budget_min_steps must be >= 0")
        if self.label_budgets and (self.cv_folds or self.synthetic_balance is not None):
            raise ValueError("heads.label_budgets cannot be combined with heads.cv_folds or heads.synthetic_balance "
                             "(the budget harness evaluates on the complete test split, on real images)")
        ablations = [m for m in self.methods if m in BUDGET_ONLY_METHODS]
        if ablations and not self.label_budgets:
            raise ValueError(f"method {ablations[0]!r} is an ablation of the label-budget harness; set "
                             "heads.label_budgets (e.g. [all]) to run it")
