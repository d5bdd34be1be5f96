"""Throughput and peak memory of ``medfx data check`` on N synthetic 28x28 images (MedMNIST-sized npz).

    OMP_NUM_THREADS=1 PYTHONPATH=. python bench/data_check_scale.py 10000
    OMP_NUM_THREADS=1 PYTHONPATH=. python bench/data_check_scale.py 100000
    OMP_NUM_THREADS=1 PYTHONPATH=. python bench/data_check_scale.py 10000 8 8     # --hash-size 8 --threshold 8

Images: a random 14x14 field upsampled to 28x28 (bilinear) plus noise, 1% planted exact copies and 1% planted
re-scaled copies; train/val/test = 80/10/10. Prints hashing and search time, pairs found, peak RSS.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def make(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, 28, 28), np.uint8)
    for s in range(0, n, 4096):
        k = min(4096, n - s)
        low = torch.from_numpy(rng.random((k, 1, 14, 14), dtype=np.float32))
        x = torch.nn.functional.interpolate(low, size=(28, 28), mode="bilinear", align_corners=False)[:, 0].numpy()
        x = x * 200 + rng.normal(0, 4, x.shape)
        out[s : s + k] = np.clip(x, 0, 255).astype(np.uint8)
    m = n // 100
    src = rng.choice(n, 2 * m, replace=False)
    dst = rng.choice(np.setdiff1d(np.arange(n), src), 2 * m, replace=False)
    out[dst[:m]] = out[src[:m]]  # exact copies
    out[dst[m:]] = (out[src[m:]].astype(np.float32) * 0.8 + 10).astype(np.uint8)  # intensity-scaled copies
    return out


def main() -> None:
    from medfx.data.check import CheckConfig, check_data

    n = int(sys.argv[1])
    cfg = CheckConfig(hash_size=int(sys.argv[2]), threshold=int(sys.argv[3])) if len(sys.argv) > 3 else CheckConfig()
    x = make(n)
    y = np.arange(n) % 2
    a, b = int(0.8 * n), int(0.9 * n)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"synthetic{n}.npz"
        np.savez(path, train_images=x[:a], train_labels=y[:a, None], val_images=x[a:b], val_labels=y[a:b, None],
                 test_images=x[b:], test_labels=y[b:, None])
        del x
        t = time.perf_counter()
        res = check_data(str(path), config=cfg)
        wall = time.perf_counter() - t
    c = res.summary_counts()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"n={n} hash={cfg.hash}-{cfg.hash_size ** 2} threshold={cfg.threshold} wall={wall:.1f}s hash={res.timing['hash_s']:.1f}s ({n / res.timing['hash_s']:.0f} img/s) "
          f"search={res.timing['search_s']:.1f}s total_rate={n / wall:.0f} img/s exact_groups={c['exact_groups']} "
          f"near_pairs={c['near_pairs']} near_groups={c['near_groups']} peak_rss={peak:.0f} MiB")


if __name__ == "__main__":
    main()
