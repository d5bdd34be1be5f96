"""Issue 13 transfer: the unlabelled pool for brain_tumor_mri_4class -> brain_tumor_mri_yesno.

The pool is the training split of the de-duplicated 4-class manifest (bench/data/brain4_dedup.csv) minus every image
that shares an exact or near-duplicate group (pHash-256, distance <= 32: `medfx data check` defaults) with ANY
yes/no image, whatever its split. Input: the groups.csv of
    medfx data check ../shared/data/brain_tumor_mri_yesno --against ../shared/data/brain_tumor_mri_4class \
        --out bench/data/yesno_check
    python bench/make_transfer_pool.py --groups bench/data/yesno_check/groups.csv \
        --pool bench/data/brain4_dedup.csv --out bench/data/brain4_pool_minus_yesno.csv
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", required=True)
    ap.add_argument("--pool", required=True, help="manifest CSV; its train rows form the pool")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    members = defaultdict(list)
    for r in csv.DictReader(open(args.groups)):
        members[r["group"]].append(r)
    hit = set()  # 4-class paths grouped with a yes/no image (dataset 0 = the checked set, 1 = --against)
    n_groups = 0
    for rows in members.values():
        if any(r["dataset"] == "0" for r in rows) and any(r["dataset"] == "1" for r in rows):
            n_groups += 1
            hit.update(str(Path(r["path"]).resolve()) for r in rows if r["dataset"] == "1")
    with open(args.pool) as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, [r for r in reader if r["split"] == "train"]
    kept = [r for r in rows if str(Path(r["path"]).resolve()) not in hit]
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(kept)
    info = {"pool_train_rows": len(rows), "removed": len(rows) - len(kept), "kept": len(kept),
            "groups_linking_yesno_and_4class": n_groups, "4class_images_in_those_groups": len(hit),
            "out": args.out}
    Path(args.out).with_suffix(".json").write_text(json.dumps(info, indent=1) + "\n")
    print(json.dumps(info))


if __name__ == "__main__":
    main()
