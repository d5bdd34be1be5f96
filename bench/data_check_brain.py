"""`medfx data check` on the two shared brain MRI sets, plus a synthetic near-duplicate benchmark built from them.

    OMP_NUM_THREADS=1 PYTHONPATH=. python bench/data_check_brain.py ../shared/data --out bench/results/data_check

1. brain_tumor_mri_4class: test images with an identical copy in Training (train + the carved val), and test
   images with only a near copy there.
2. brain_tumor_mri_yesno: exact groups / files; against brain_tumor_mri_4class: yes/no images with an exact or
   near copy in the 4-class set.
3. Synthetic: N originals from Training (none in duplicate_groups.txt) go to train/; test/ holds four altered
   copies of each (JPEG q=50, resized 224->160, shifted 2 px, intensity x0.7+10) and N other Training images of
   the same classes (negatives). For each threshold: recall per alteration, precision over flagged test images,
   false-positive rate on the negatives.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from medfx.data import DataConfig
from medfx.data.check import CheckConfig, check_data

ALTER = {
    "jpeg": lambda a: np.asarray(Image.open(_jpeg(a))),
    "resize": lambda a: np.asarray(Image.fromarray(a).resize((160, 160), Image.BILINEAR)),
    "shift": lambda a: np.pad(a, ((2, 0), (2, 0)))[:-2, :-2],
    "rescale": lambda a: (a.astype(np.float32) * 0.7 + 10).astype(np.uint8),
}


def _jpeg(a):
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=50)
    buf.seek(0)
    return buf


def linked(res, split_from: str, split_to: str) -> dict[str, set[str]]:
    """id in split_from -> ids in split_to sharing an exact copy or a direct near pair with it."""
    it = res.items
    by_content = {}
    for i, c in enumerate(it.content):
        by_content.setdefault(c, []).append(i)
    out = {}
    def add(i, j):
        if it.splits[i] == split_from and it.splits[j] == split_to:
            out.setdefault(it.ids[i], set()).add(it.ids[j])
    for members in by_content.values():
        for i in members:
            for j in members:
                if i != j:
                    add(i, j)
    for a, b, _ in zip(*res.near_edges):
        for i in by_content[it.content[a]]:
            for j in by_content[it.content[b]]:
                add(i, j)
                add(j, i)
    return out


def synthetic(root: Path, n: int, thresholds, hash_size: int, seed: int = 0) -> list[dict]:
    dup = set()
    for line in (root / "duplicate_groups.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            dup.update(line.split("\t"))
    files = [f for f in sorted((root / "Training").glob("*/*.jpg")) if str(f.relative_to(root)) not in dup]
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(files), 2 * n, replace=False)
    orig, neg = [files[i] for i in pick[:n]], [files[i] for i in pick[n:]]
    tmp = Path(tempfile.mkdtemp())
    for k, f in enumerate(orig):
        a = np.asarray(Image.open(f).convert("L"))
        cls = f.parent.name
        (tmp / "train" / cls).mkdir(parents=True, exist_ok=True)
        (tmp / "test" / cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(tmp / "train" / cls / f"o{k:04d}.png")
        for name, fn in ALTER.items():
            ext = "jpg" if name == "jpeg" else "png"
            Image.fromarray(fn(a)).save(tmp / "test" / cls / f"{name}{k:04d}.{ext}", quality=95)
    for k, f in enumerate(neg):
        (tmp / "test" / f.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, tmp / "test" / f.parent.name / f"neg{k:04d}.jpg")
    rows = []
    cache = tmp / "cache"
    for t in thresholds:
        res = check_data(DataConfig(path=str(tmp), val_fraction=0.0),
                         config=CheckConfig(hash_size=hash_size, threshold=t), cache_dir=cache)
        link = linked(res, "test", "train")
        row = {"hash_bits": hash_size**2, "threshold": t}
        flagged = correct = 0
        for name in ALTER:
            hits = 0
            for k, f in enumerate(orig):
                tid = f"test/{f.parent.name}/{name}{k:04d}.{'jpg' if name == 'jpeg' else 'png'}"
                got = link.get(tid, set())
                hits += f"train/{f.parent.name}/o{k:04d}.png" in got
                flagged += bool(got)
                correct += got == {f"train/{f.parent.name}/o{k:04d}.png"}
            row[f"recall_{name}"] = hits / n
        fp = sum(bool(link.get(f"test/{f.parent.name}/neg{k:04d}.jpg")) for k, f in enumerate(neg))
        flagged += fp
        row["recall"] = np.mean([row[f"recall_{a}"] for a in ALTER])
        row["precision"] = correct / max(flagged, 1)
        row["fp_rate_negatives"] = fp / n
        row["hash_s"] = res.timing["hash_s"]
        rows.append(row)
        print(json.dumps(row))
    shutil.rmtree(tmp)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("data", type=Path, help="the shared data folder")
    p.add_argument("--out", type=Path, default=Path("bench/results/data_check"))
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--grid", nargs="+", default=["16:16,24,32,40,48", "8:4,6,8,10"],
                   help="synthetic benchmark: HASH_SIZE:THRESHOLDS")
    p.add_argument("--parts", nargs="+", default=["brain", "synthetic"])
    a = p.parse_args(argv)
    four, yesno = a.data / "brain_tumor_mri_4class", a.data / "brain_tumor_mri_yesno"
    out = {}
    a.out.mkdir(parents=True, exist_ok=True)
    summary = a.out / "summary.json"
    if summary.exists():
        out = json.loads(summary.read_text())
    if "brain" in a.parts:
        t = time.perf_counter()
        r4 = check_data(str(four), cache_dir=a.out / "cache")
        r4.write_all(a.out / "brain4")
        out["brain4"] = {"config": r4.to_dict()["config"], "summary": r4.summary_counts(), "leaks": r4.leaks,
                         "timing": r4.timing, "wall_s": time.perf_counter() - t}
        print(r4.to_text())
        ry = check_data(str(yesno), against=[str(four)], cache_dir=a.out / "cache")
        ry.write_all(a.out / "yesno_vs_brain4")
        matched = ry._against_matches()
        out["yesno"] = {"summary": ry.summary_counts(), "leaks": ry.leaks,
                        "yesno_images_with_copy_in_brain4": len(matched),
                        "by_class": {c: sum(ry.items.labels[i] == c for i in matched) for c in ("yes", "no")},
                        "exact_groups_within_yesno": sum(1 for g in ry.exact_groups
                                                         if sum(m["dataset"] == 0 for m in g["members"]) > 1),
                        "exact_files_within_yesno": sum(k for g in ry.exact_groups
                                                        if (k := sum(m["dataset"] == 0 for m in g["members"])) > 1)}
        print(ry.to_text())
        print(json.dumps({k: v for k, v in out["yesno"].items() if k not in ("summary", "leaks")}))
        summary.write_text(json.dumps(out, indent=1, default=float))
    if "synthetic" in a.parts:
        out["synthetic"] = []
        for spec in a.grid:
            hs, ts = spec.split(":")
            out["synthetic"] += synthetic(four, a.n, [int(t) for t in ts.split(",")], int(hs))
        summary.write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
