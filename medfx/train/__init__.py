from ..utils.ema import EMA
from .checkpoint import CheckpointError, load_backbone, load_checkpoint
from .loop import RunError, TrainHooks, TrainResult, train_diffusion

__all__ = ["CheckpointError", "EMA", "RunError", "TrainHooks", "TrainResult", "load_backbone", "load_checkpoint",
           "train_diffusion"]
