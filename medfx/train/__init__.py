from ..utils.ema import EMA
from .loop import RunError, TrainHooks, TrainResult, train_diffusion

__all__ = ["EMA", "RunError", "TrainHooks", "TrainResult", "train_diffusion"]
