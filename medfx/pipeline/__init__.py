"""One command for the whole method: DDPM -> features -> probes -> Gaussianity -> heads + baselines -> report.

``from medfx.pipeline.run import run_pipeline, evaluate_run`` (kept out of this module so that
``medfx.config`` can import the config sections without importing the whole pipeline).
"""

from .config import METHODS, STAGES, HeadsConfig, PipelineConfig

__all__ = ["HeadsConfig", "METHODS", "PipelineConfig", "STAGES"]
