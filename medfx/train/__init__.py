from ..utils.ema import EMA
from .loop import RunError, TrainResult, train_diffusion

__all__ = ["EMA", "RunError", "TrainResult", "train_diffusion"]
