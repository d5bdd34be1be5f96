"""How much of a head's input variance is variation ACROSS samples (thirty-third session's diagnosis of D-Cube
without its image CNN in 3D). For each (block, t) of a run's grid feature bank (``features_grid``), over the training
rows: the across-sample variance (per feature, averaged) divided by the total variance about the grand mean, for
the raw maps, after D-Cube's LayerNorm over channels per cell, after a per-channel BatchNorm (CATS's default), and
after per-feature z-scores (1 by construction).

    python bench/feature_variance_share.py bench/runs/le-a3d-s1-d32cheap down.0:50 up.2:50 up.1:10
"""

import argparse
import json
from pathlib import Path

import numpy as np


def share(z: np.ndarray) -> float:
    """Across-sample variance (mean over features) / variance about the grand mean, of ``z [N, C, cells]``."""
    return float(z.var(0).mean() / ((z - z.mean()) ** 2).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("keys", nargs="+", help="block:t, e.g. down.0:50")
    a = ap.parse_args()
    meta = json.loads((a.run / "features_grid" / "meta.json").read_text())
    tr = np.array([i for i, s in enumerate(meta["split"]) if s == "train"])
    print(f"# {a.run.name}: {len(tr)} training rows; across-sample share of the input variance")
    for key in a.keys:
        block, t = key.rsplit(":", 1)
        c = meta["shapes"][block][0]
        x = np.load(a.run / "features_grid" / f"{block.replace('.', '_')}__t{int(t):04d}.npy")[tr]
        x = x.reshape(len(tr), c, -1).astype(np.float64)
        layer = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
        batch = (x - x.mean((0, 2), keepdims=True)) / x.std((0, 2), keepdims=True)
        print(f"({block}, {t}): raw {share(x):.4f}  layer {share(layer):.4f}  batch {share(batch):.4f}  standard 1")


if __name__ == "__main__":
    main()
