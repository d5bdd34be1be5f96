"""Start-up cost of the up-front validation of `medfx run` (issue 14) and of bank checksum verification.

Measures, in one process and alternating, for ``preset=demo`` (or ``--preset``):
  * ``catalogue``: what `medfx run` did before issue 14 (``load_splits``: catalogue + npz preprocessing);
  * ``validate``: the full ``_validate_inputs`` of `medfx run` now (load_splits, then every item of every split
    decoded once, NaN/Inf and shape checks, two classes per split);
and the SHA-256 verification of a feature bank of the demo's size (rows x floats written to a temp folder).

    OMP_NUM_THREADS=1 python bench/reliability_startup.py --repeats 3 --out bench/results/reliability_startup.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bank-dims", type=int, default=1536, help="floats per row of the simulated bank (all keys)")
    ap.add_argument("--out")
    args = ap.parse_args()

    from medfx.config import load_config
    from medfx.data import load_splits
    from medfx.workflows.pipeline import _validate_inputs

    cfg = load_config(overrides=[f"preset={args.preset}"])
    load_splits(cfg.data)  # warm the file cache and imports
    t_cat, t_val = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        splits = load_splits(cfg.data)
        t_cat.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        _validate_inputs(cfg)
        t_val.append(time.perf_counter() - t0)
    n = sum(len(s) for s in splits.values())

    from medfx.features.bank import _sha256

    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "bank.npy"
        np.save(f, np.random.default_rng(0).standard_normal((n, args.bank_dims), dtype=np.float32))
        t0 = time.perf_counter()
        _sha256(f)
        t_sha = time.perf_counter() - t0
        size = f.stat().st_size
    res = {"preset": args.preset, "items": n, "catalogue_s": t_cat, "validate_s": t_val,
           "extra_s_median": float(np.median(t_val) - np.median(t_cat)),
           "bank_bytes": size, "bank_sha256_s": t_sha}
    print(json.dumps(res, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
