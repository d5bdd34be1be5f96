"""Linear probes on frozen diffusion features: one estimator, a (block, t) grid, and heatmaps."""

from .grid import ProbeGridResult, concat_probe, probe_grid
from .linear import DEFAULT_CS, LinearProbe
from .plots import plot_all_heatmaps, plot_heatmap

__all__ = [
    "DEFAULT_CS",
    "LinearProbe",
    "ProbeGridResult",
    "concat_probe",
    "plot_all_heatmaps",
    "plot_heatmap",
    "probe_grid",
]
