"""The weights EMA lives in ``medfx.utils.ema`` so that classifier heads share it without importing the loop."""

from ..utils.ema import EMA

__all__ = ["EMA"]
