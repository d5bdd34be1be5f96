"""Build a de-duplicated 64x64 MedMNIST-style npz from brain_tumor_mri_4class (for benchmarks).

The shared copy lists 300 groups of byte-identical files (``duplicate_groups.txt``); 216 test images have a copy
in Training. We keep exactly one file per group, preferring a Training member, so no image appears twice and
none appears in both train and test. Training/ -> train + a seeded stratified 10% val; Testing/ -> test.

    python bench/make_brain_npz.py ../shared/data/brain_tumor_mri_4class bench/data/brain4_64_dedup.npz --size 64
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.model_selection import train_test_split

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("root", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    drop = set()
    for line in (a.root / "duplicate_groups.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        group = sorted(line.split("\t"), key=lambda f: (not f.startswith("Training/"), f))
        drop.update(group[1:])  # keep one member, a Training one when there is one
    data = {}
    for split, folder in (("train", "Training"), ("test", "Testing")):
        xs, ys, names = [], [], []
        for c, cls in enumerate(CLASSES):
            for f in sorted((a.root / folder / cls).glob("*.jpg")):
                rel = f"{folder}/{cls}/{f.name}"
                if rel in drop:
                    continue
                img = Image.open(f).convert("L").resize((a.size, a.size), Image.BILINEAR)
                xs.append(np.asarray(img, dtype=np.uint8))
                ys.append(c)
                names.append(rel)
        data[split] = (np.stack(xs), np.array(ys, dtype=np.uint8), names)
    x, y, _ = data["train"]
    idx_tr, idx_va = train_test_split(np.arange(len(y)), test_size=0.1, stratify=y, random_state=a.seed)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(a.out, train_images=x[idx_tr], train_labels=y[idx_tr, None], val_images=x[idx_va],
                        val_labels=y[idx_va, None], test_images=data["test"][0], test_labels=data["test"][1][:, None])
    for s, yy in (("train", y[idx_tr]), ("val", y[idx_va]), ("test", data["test"][1])):
        print(s, len(yy), np.bincount(yy, minlength=4).tolist())
    print(f"dropped {len(drop)} duplicate files; wrote {a.out}")


if __name__ == "__main__":
    main()
