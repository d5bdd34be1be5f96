"""``DataConfig``: where the images are and how they are turned into tensors."""

from __future__ import annotations

from dataclasses import dataclass

FORMATS = ("auto", "npz", "folder", "nifti_csv")
RESIZE_MODES = ("resize", "crop_pad")
INTENSITY_MODES = ("minmax", "percentile")
LEAKAGE_MODES = ("warn", "error", "off")
_AXES = ({"L", "R"}, {"A", "P"}, {"I", "S"})


@dataclass
class DataConfig:
    """Data source, preprocessing and split options (see ``medfx.data.load_splits``)."""

    path: str = "builtin:pneumoniamnist"  # .npz, image folder, .csv of NIfTI paths, or builtin:NAME
    format: str = "auto"  # auto | npz | folder | nifti_csv
    size: tuple[int, ...] | None = None  # target spatial size; None keeps the (uniform) native size
    resize_mode: str = "resize"  # resize (interpolate) | crop_pad (centre crop / pad, no interpolation)
    intensity: str = "minmax"  # per-image scaling: minmax | percentile
    percentiles: tuple[float, ...] = (0.5, 99.5)  # lower, upper percentile for intensity="percentile"
    intensity_range: tuple[float, ...] = (-1.0, 1.0)  # output range of the scaled images
    orientation: str | None = None  # axis codes such as "RAS" (volumes only)
    spacing: tuple[float, ...] | None = None  # resample to this voxel spacing in mm (volumes only)
    val_fraction: float = 0.1  # fraction held out for validation when the data has no val split
    test_fraction: float = 0.2  # fraction held out for testing when the data has no test split
    split_seed: int = 0  # seed of the stratified (grouped) split and of max_per_split
    max_per_split: int | None = None  # seeded stratified subsample of each split (quick runs)
    label_column: str = "label"  # label column of a CSV
    contain_paths: bool = False  # CSV/manifest paths must stay inside the CSV's folder (no absolute or ../ paths)
    leakage: str = "warn"  # medfx run: a val/test image duplicated in train (or in pretrain_data) -> warn|error|off

    def __post_init__(self) -> None:
        # YAML and JSON give lists; store tuples so configs compare and hash consistently.
        for name in ("size", "percentiles", "intensity_range", "spacing"):
            value = getattr(self, name)
            if isinstance(value, list):
                setattr(self, name, tuple(value))
        if not isinstance(self.path, str) or not self.path:
            raise ValueError("DataConfig.path: must be a non-empty string")
        if self.format not in FORMATS:
            raise ValueError(f"DataConfig.format: {self.format!r} is not one of {', '.join(FORMATS)}")
        if self.size is not None:
            if len(self.size) not in (2, 3) or any(int(s) != s or s < 1 for s in self.size):
                raise ValueError(f"DataConfig.size: expected 2 or 3 positive integers, got {self.size!r}")
            self.size = tuple(int(s) for s in self.size)
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(
                f"DataConfig.resize_mode: {self.resize_mode!r} is not one of {', '.join(RESIZE_MODES)}"
            )
        if self.intensity not in INTENSITY_MODES:
            raise ValueError(
                f"DataConfig.intensity: {self.intensity!r} is not one of {', '.join(INTENSITY_MODES)}"
            )
        if len(self.percentiles) != 2 or not 0.0 <= self.percentiles[0] < self.percentiles[1] <= 100.0:
            raise ValueError(
                f"DataConfig.percentiles: expected (lower, upper) with 0 <= lower < upper <= 100, "
                f"got {self.percentiles!r}"
            )
        if len(self.intensity_range) != 2 or not self.intensity_range[0] < self.intensity_range[1]:
            raise ValueError(
                f"DataConfig.intensity_range: expected (low, high) with low < high, got {self.intensity_range!r}"
            )
        if self.orientation is not None:
            codes = self.orientation.upper()
            if len(codes) != 3 or sorted(i for c in codes for i, ax in enumerate(_AXES) if c in ax) != [
                0,
                1,
                2,
            ]:
                raise ValueError(
                    f"DataConfig.orientation: {self.orientation!r} is not a valid 3-letter code such as 'RAS'"
                )
            self.orientation = codes
        if self.spacing is not None:
            if len(self.spacing) != 3 or any(s <= 0 for s in self.spacing):
                raise ValueError(f"DataConfig.spacing: expected 3 positive values, got {self.spacing!r}")
            if self.size is None:
                raise ValueError(
                    "DataConfig.spacing: resampling changes the volume shape, so it needs size as well"
                )
            self.spacing = tuple(float(s) for s in self.spacing)
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"DataConfig.{name}: must be in [0, 1), got {value!r}")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("DataConfig.val_fraction: val_fraction + test_fraction must be below 1")
        if self.max_per_split is not None and self.max_per_split < 1:
            raise ValueError(
                f"DataConfig.max_per_split: must be positive or None, got {self.max_per_split!r}"
            )
        if self.leakage not in LEAKAGE_MODES:
            raise ValueError(f"DataConfig.leakage: {self.leakage!r} is not one of {', '.join(LEAKAGE_MODES)}")
        if not self.label_column:
            raise ValueError("DataConfig.label_column: must be a non-empty string")
