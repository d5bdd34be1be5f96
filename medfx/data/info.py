"""``describe``: what a data source holds and how ``load_splits`` would split it, without loading images."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medfx.data.config import DataConfig
from medfx.data.datasets import build_catalog, resolve_path
from medfx.data.splits import split_indices


@dataclass
class DataInfo:
    """Summary of a data source under a ``DataConfig``."""

    source: str  # resolved file or folder
    format: str  # npz | folder | nifti_csv
    spatial_dims: int  # 2 or 3
    native_sizes: dict[tuple[int, ...], int]  # native spatial size -> number of items
    target_size: tuple[int, ...] | None  # DataConfig.size (None keeps the native size)
    class_names: list[str]
    counts: dict[str, dict[str, int]]  # split -> class name (or "unlabelled") -> items
    raw_range: tuple[float, float] | None  # min and max of the raw values (npz only; None if not cheap)
    subjects: int | None  # number of distinct subjects, if the data names them

    @property
    def n_items(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())

    def to_text(self) -> str:
        """Readable multi-line summary with a split x class table."""
        sizes = ", ".join(f"{'x'.join(map(str, s))} ({n})" for s, n in list(self.native_sizes.items())[:8])
        if len(self.native_sizes) > 8:
            sizes += f", ... ({len(self.native_sizes)} sizes)"
        target = "x".join(map(str, self.target_size)) if self.target_size else "native"
        lines = [
            f"source        {self.source}",
            f"format        {self.format}",
            f"dimensions    {self.spatial_dims}D",
            f"native size   {sizes}",
            f"target size   {target}",
            f"classes       {', '.join(self.class_names) if self.class_names else '(unlabelled)'}",
        ]
        if self.raw_range is not None:
            lines.append(f"raw range     [{self.raw_range[0]:g}, {self.raw_range[1]:g}]")
        if self.subjects is not None:
            lines.append(f"subjects      {self.subjects}")
        columns = list(self.class_names)
        if any("unlabelled" in c for c in self.counts.values()):
            columns.append("unlabelled")
        header = ["split", *columns, "total"]
        rows = [
            [s, *(str(c.get(k, 0)) for k in columns), str(sum(c.values()))] for s, c in self.counts.items()
        ]
        totals = [sum(c.get(k, 0) for c in self.counts.values()) for k in columns]
        rows.append(["all", *map(str, totals), str(self.n_items)])
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        def fmt(r):
            return "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths)))
        lines += ["", fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)]
        return "\n".join(lines)


def describe(path_or_cfg: str | Path | DataConfig) -> DataInfo:
    """Summarise a data path (default options) or a full ``DataConfig``; images are not decoded."""
    cfg = path_or_cfg if isinstance(path_or_cfg, DataConfig) else DataConfig(path=str(path_or_cfg))
    # report mixed native sizes instead of failing; an npz is read from its headers (bounded memory)
    cat = build_catalog(cfg, check_sizes=False, load_images=False)
    index = split_indices(cat, cfg)
    counts = {}
    for split, idx in index.items():
        values, n = np.unique(cat.labels[idx], return_counts=True)
        counts[split] = {cat.class_names[v] if v >= 0 else "unlabelled": int(k) for v, k in zip(values, n)}
    raw_range = None
    if cat.format == "npz":
        from medfx.data.datasets import npz_minmax

        raw_range = npz_minmax(resolve_path(cfg.path))
    return DataInfo(
        source=cat.source,
        format=cat.format,
        spatial_dims=cat.spatial_dims,
        native_sizes=dict(Counter(cat.shapes).most_common()),
        target_size=cfg.size,
        class_names=list(cat.class_names),
        counts=counts,
        raw_range=raw_range,
        subjects=len(set(cat.subjects)) if cat.subjects is not None else None,
    )
