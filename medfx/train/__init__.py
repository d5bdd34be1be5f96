from ..utils.ema import EMA
from .checkpoint import CheckpointError, load_backbone, load_checkpoint
from .loop import RunError, TrainResult, train_diffusion

__all__ = ["CheckpointError", "EMA", "RunError", "TrainResult", "load_backbone", "load_checkpoint", "train_diffusion"]
